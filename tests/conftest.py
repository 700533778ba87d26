"""A real `cloudpbx serve` for the whole session, on SQLite by default or on CLOUDPBX_TEST_DB_URL (PostgreSQL)."""

from __future__ import annotations

import itertools
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pytest

from tests.conformance import RECORDER
from tests.helpers import ADMIN_PASSWORD, Client, reset_database

ROOT = Path(__file__).resolve().parents[1]
ON_POSTGRESQL = bool(os.environ.get("CLOUDPBX_TEST_DB_URL"))


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "same_on_every_database: what the test checks does not depend on the suite's database (a timer, a server on "
        "a database of its own), so the PostgreSQL run leaves it to the SQLite run",
    )


# Folders and modules whose tests check the SIP stack, media and call control: they behave the same on every
# database (the store only hands them their configuration), so the PostgreSQL run leaves them to the SQLite run.
SAME_ON_EVERY_DATABASE = (
    "sip/",
    "media/",
    "telephony/test_calls.py",
    "telephony/test_transfer.py",
    "telephony/test_prack.py",
    "telephony/test_video_calls.py",
)


def pytest_collection_modifyitems(config, items):
    if not ON_POSTGRESQL:
        return
    left = pytest.mark.skip(reason="does not depend on the database: the SQLite run has it")
    tests = Path(__file__).parent
    for item in items:
        where = item.path.relative_to(tests).as_posix()
        if item.get_closest_marker("same_on_every_database") or where.startswith(SAME_ON_EVERY_DATABASE):
            item.add_marker(left)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def free_sip_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 (SIP listens on both)."""
    for _ in range(50):
        port = free_port()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free SIP port")


class Served(tuple):
    """(base_url, data_dir, db_url) of a running server, plus where it listens for SIP (`sip_port`)."""

    sip_port: int

    def __new__(cls, base: str, data_dir: Path, url: str, sip_port: int) -> Served:
        served = super().__new__(cls, (base, data_dir, url))
        served.sip_port = sip_port
        return served


PORT_ATTEMPTS = 5


def db_url(data_dir: Path) -> str:
    return os.environ.get("CLOUDPBX_TEST_DB_URL") or f"sqlite:///{data_dir / 'cloudpbx.db'}"


def serve_argv(data_dir: Path, http_port: int, sip_port: int, db_url: str | None = None) -> list[str]:
    """The command line of `cloudpbx serve` on loopback ports, with its database unless the default."""
    db = ["--db", db_url] if db_url else []
    return [
        sys.executable,
        "-m",
        "cloudpbx",
        "serve",
        "--data-dir",
        str(data_dir),
        *db,
        "--http",
        f"127.0.0.1:{http_port}",
        "--sip",
        f"127.0.0.1:{sip_port}",
    ]


def sup_argv(served: tuple, *args: str) -> list[str]:
    """The command line of `cloudpbx sup ARGS` against a served platform's data directory and database."""
    return [sys.executable, "-m", "cloudpbx", "sup", "--data-dir", str(served[1]), "--db", served[2], *args]


LOG_DIR = tempfile.TemporaryDirectory(
    prefix="cloudpbx-test-serve-logs-"
)  # outside data folders: their modes are tested
LOG_NUMBERS = itertools.count()
LOGS: dict[int, Path] = {}  # pid → the log file of each server `start_server` started
RUNNING: set[int] = set()  # pids of those not stopped yet
LOG_TAIL = 20_000  # characters of each running server's log shown with a failing test


def server_log(proc: subprocess.Popen) -> str:
    """What a server started by `start_server` has written to its stdout and stderr so far."""
    return LOGS[proc.pid].read_text(errors="replace")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """A failing test shows the end of each running server's log: servers write to a file, never to a pipe that
    nobody reads (a full pipe would block the server's next log line, and with it the server)."""
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for pid in sorted(RUNNING):
            report.sections.append(
                (f"cloudpbx serve {pid} log (end)", LOGS[pid].read_text(errors="replace")[-LOG_TAIL:])
            )


def start_server(
    data_dir: Path, url: str, extra_env: dict | None = None, sip_port: int | None = None, file_limit: int | None = None
) -> tuple[subprocess.Popen, str]:
    """`cloudpbx serve` on free loopback ports; `file_limit` caps its open files (soft and hard limit: no raising).
    A port picked free can be taken by another socket before the server binds it: then it starts again on new ones."""
    for _ in range(PORT_ATTEMPTS - 1):
        try:
            return _start_server(data_dir, url, extra_env, sip_port, file_limit)
        except PortTaken:
            continue
    return _start_server(data_dir, url, extra_env, sip_port, file_limit)


class PortTaken(RuntimeError):
    """The server could not bind a port picked for it (another socket took it meanwhile)."""


def _start_server(
    data_dir: Path, url: str, extra_env: dict | None, sip_port: int | None, file_limit: int | None
) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {
        **os.environ,
        "CLOUDPBX_RATE_LIMIT": "1000000/1000000",
        "CLOUDPBX_ADMIN_PASSWORD": ADMIN_PASSWORD,
        **(extra_env or {}),
    }
    limit = ["prlimit", f"--nofile={file_limit}:{file_limit}", "--"] if file_limit else []
    log = Path(LOG_DIR.name) / f"serve-{next(LOG_NUMBERS)}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [*limit, *serve_argv(data_dir, port, sip_port or free_sip_port(), url)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    LOGS[proc.pid] = log
    RUNNING.add(proc.pid)
    base = f"http://127.0.0.1:{port}/v2"
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            RUNNING.discard(proc.pid)
            output = server_log(proc)
            raise (PortTaken if "address already in use" in output else RuntimeError)(f"server exited: {output}")
        try:
            httpx.get(f"{base}/about", timeout=1)
            return proc, base
        except httpx.TransportError:
            time.sleep(0.1)
    stop_server(proc)
    raise RuntimeError(f"server did not start: {server_log(proc)[-LOG_TAIL:]}")


def stop_server(proc: subprocess.Popen) -> None:
    RUNNING.discard(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """(base_url, data_dir, db_url) of a running platform with a fresh database; `.sip_port` for SIP."""
    data_dir = tmp_path_factory.mktemp("var")
    url = db_url(data_dir)
    reset_database(url)
    sip_port = free_sip_port()
    proc, base = start_server(data_dir, url, sip_port=sip_port)
    yield Served(base, data_dir, url, sip_port)
    stop_server(proc)


@pytest.fixture(scope="session")
def master(server) -> Client:
    """The master (superduper) admin, logged in."""
    client = Client(server[0])
    client.login("admin", ADMIN_PASSWORD, account_name="Master Account")
    return client


@pytest.fixture(scope="session", autouse=True)
def responses_follow_the_openapi_document():
    """After the session: every response received through `Client` matches the document its server published."""
    yield
    mismatches = RECORDER.mismatches()
    assert not mismatches, f"{len(mismatches)} responses do not match the OpenAPI document:\n" + "\n".join(
        sorted(set(mismatches))[:60]
    )


@pytest.fixture(scope="session")
def smtp(master):
    """The SMTP sink the platform under test relays its email to (system config `smtp_client`)."""
    from tests.notify.smtp_sink import Sink  # it takes its port from this module

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
