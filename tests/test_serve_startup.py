"""`cloudpbx serve` start-up: ports are bound before anything is created, so a taken port is a one-line error that
leaves no database and no master account behind, and the one-time credentials are printed (before "API on") by the
start that really serves. Each start here has its own SQLite data folder: what is checked is the order of start-up,
the same on any database. Also: serve raises its soft file limit to the hard limit."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import httpx

from tests.conftest import free_port, free_sip_port, serve_argv
from tests.helpers import credentials


def serve(data_dir: Path, http_port: int, sip_port: int, *prefix: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("CLOUDPBX_ADMIN_PASSWORD", None)  # a generated password, as on a real first start
    return subprocess.Popen(
        [*prefix, *serve_argv(data_dir, http_port, sip_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def refused(data_dir: Path, http_port: int, sip_port: int) -> str:
    """The one line a start that cannot listen prints; nothing may be left in its data folder."""
    proc = serve(data_dir, http_port, sip_port)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and "already in use" in lines[0] and "password" not in output, output
    assert not data_dir.exists() or not any(data_dir.iterdir()), "nothing is created when a port is taken"
    return lines[0]


def lines_until_serving(proc: subprocess.Popen) -> list[str]:
    """The output of a starting server up to its "API on" line (at most 200 lines)."""
    lines = []
    for _ in range(200):
        line = proc.stdout.readline()
        assert line, f"server exited: {''.join(lines)}"
        lines.append(line)
        if "cloudpbx API on" in line:
            return lines
    raise AssertionError("no 'API on' line")


def test_a_taken_port_creates_nothing_and_the_next_start_shows_the_password(tmp_path):
    data_dir = tmp_path / "var"
    http_port, sip_port = free_port(), free_sip_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", http_port))
        taken.listen()
        assert f"API on 127.0.0.1:{http_port}" in refused(data_dir, http_port, sip_port)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", sip_port))
        assert f"SIP on 127.0.0.1:{sip_port}" in refused(data_dir, http_port, sip_port)

    proc = serve(data_dir, http_port, sip_port)
    try:
        lines = lines_until_serving(proc)
        text = "".join(lines)
        password = re.search(r"password: +(\S+)", text).group(1)
        assert text.index("password:") < text.index("cloudpbx API on"), "credentials first, then 'API on'"
        answer = httpx.put(
            f"http://127.0.0.1:{http_port}/v2/user_auth",
            timeout=10,
            json={"data": {"credentials": credentials("admin", password), "account_name": "Master Account"}},
        )
        assert answer.status_code == 201, answer.text
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_serve_raises_its_soft_file_limit_to_the_hard_limit(tmp_path):
    proc = serve(tmp_path / "var", free_port(), free_sip_port(), "prlimit", "--nofile=256:4096", "--")
    try:
        lines_until_serving(proc)
        limits = Path(f"/proc/{proc.pid}/limits").read_text()
        assert re.search(r"Max open files +4096 +4096 ", limits), limits
    finally:
        proc.terminate()
        proc.wait(timeout=10)
