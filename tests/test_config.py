"""Settings from flags and CLOUDPBX_* variables: where SIP listens and which address it announces."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cloudpbx.config import Settings


def test_sip_defaults_to_loopback_and_announces_what_it_binds():
    settings = Settings.from_env("var", "sqlite:///unused.db", sip="127.0.0.1:5070")
    assert (settings.sip_host, settings.sip_port, settings.sip_announce) == ("127.0.0.1", 5070, None)


def test_every_address_needs_an_ip_address_to_announce(monkeypatch):
    with pytest.raises(ValueError, match="--announce"):
        Settings.from_env("var", "sqlite:///unused.db", sip="0.0.0.0:5060")
    settings = Settings.from_env("var", "sqlite:///unused.db", sip="0.0.0.0:5060", announce="203.0.113.7")
    assert (settings.sip_host, settings.sip_announce) == ("0.0.0.0", "203.0.113.7")
    monkeypatch.setenv("CLOUDPBX_SIP_ANNOUNCE", "192.0.2.1")
    assert Settings.from_env("var", "sqlite:///unused.db", sip="0.0.0.0:5060").sip_announce == "192.0.2.1"
    for bad in ("pbx.example.com", "0.0.0.0"):
        with pytest.raises(ValueError, match="announce address"):
            Settings.from_env("var", "sqlite:///unused.db", sip="0.0.0.0:5060", announce=bad)


def test_serve_on_every_address_without_announce_is_a_one_line_error(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudpbx",
            "serve",
            "--data-dir",
            str(tmp_path),
            "--http",
            "127.0.0.1:1",
            "--sip",
            "0.0.0.0:5999",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    lines = (done.stdout + done.stderr).strip().splitlines()
    assert len(lines) == 1 and "--announce" in lines[0], lines
