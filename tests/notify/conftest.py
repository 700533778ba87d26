"""The SMTP sink the platform under test relays its email to (system config `smtp_client`)."""

from __future__ import annotations

import pytest

from tests.notify.smtp_sink import Sink


@pytest.fixture(scope="session")
def smtp(master):
    sink = Sink()
    sink.controller.start()
    config = {"default": {"relay": "127.0.0.1", "port": sink.port, "tls": "never", "timeout_s": 10}}
    resp = master.put("system_configs/smtp_client", config)
    if resp.status_code != 201:
        resp = master.post("system_configs/smtp_client", config)
    assert resp.status_code == 200 or resp.status_code == 201, resp.text
    yield sink
    sink.released.set()
    sink.controller.stop()
