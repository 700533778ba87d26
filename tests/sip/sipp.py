"""SIPp (Debian `sip-tester`) runs for tests: scenarios as subprocesses on 127.0.0.1 with explicit ports.

`Sipp(...).run()` runs a client scenario to the end; `with Sipp(...) as uas:` keeps a server scenario running in
the background and stops it on exit. Results come from the exit code and the `-trace_stat` CSV; the `-trace_err`
log and the last screen go into `SippResult.describe()` for failure messages (run folders go at exit).
"""

from __future__ import annotations

import atexit
import csv
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SIPP = "/usr/bin/sipp"
HOST = "127.0.0.1"
SCENARIOS = Path(__file__).parent / "scenarios"
_SIPP_TRANSPORTS = {"udp": "u1", "tcp": "t1"}
_SOCKET_TYPES = {"udp": socket.SOCK_DGRAM, "tcp": socket.SOCK_STREAM}
_runs: list[Path] = []  # this process's folder of SIPp run folders, removed at exit


def _run_dir(scenario: str) -> Path:
    if not _runs:
        _runs.append(Path(tempfile.mkdtemp(prefix="sipp-")))
        atexit.register(shutil.rmtree, _runs[0], True)
    return Path(tempfile.mkdtemp(prefix=f"{scenario}-", dir=_runs[0]))


def free_port(transport: str = "udp", host: str = HOST) -> int:
    """A port free on `host` (a loopback address) right now (for UDP or TCP)."""
    with socket.socket(socket.AF_INET, _SOCKET_TYPES[transport]) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def free_media_port() -> int:
    """An even UDP port with the next three free too: SIPp binds audio RTP/RTCP there and video at +2/+3."""
    for _ in range(50):
        port = free_port("udp") & ~1
        if port < 65530 and not any(_port_taken(port + i, "udp") for i in range(4)):
            return port
    raise RuntimeError("no free block of four UDP ports for SIPp media")


def _port_taken(port: int, transport: str, host: str = HOST) -> bool:
    with socket.socket(socket.AF_INET, _SOCKET_TYPES[transport]) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return True
        return False


@dataclass
class SippResult:
    """How a SIPp run ended: exit code (0 all calls succeeded, 1 some failed, 99 none processed) and counts."""

    returncode: int
    successful: int
    failed: int
    stats: dict[str, str] = field(repr=False)
    errors: str = field(repr=False)
    screen: str = field(repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    def describe(self) -> str:
        return f"{self!r}\n--- errors ---\n{self.errors[-3000:]}\n--- screen ---\n{self.screen[-3000:]}"


class Sipp:
    """One SIPp process running `scenario` (a file in scenarios/ or a path) from 127.0.0.1:`port`.

    remote: "host:port" to call (client scenarios); calls: -m; rate: calls per second (-r); service: the
    number dialled (-s); keys: scenario keywords (-key), e.g. {"domain": realm, "caller": "1001"};
    auth: (username, password) for digest challenges, with the digest uri `auth_uri` (default "service@domain",
    the Request-URI of uac_call.xml, where SIPp would use its remote address); pause_ms: -d, the length of
    <pause/>; tick: called as tick(seconds) instead of sleeping while waiting for SIPp (pass phones.pump so
    pjsua phones keep answering); host: the loopback address it runs on (127.0.0.2... for carriers);
    trace: keep every message it sent and received (`messages()`).
    """

    def __init__(
        self,
        scenario: str,
        *,
        remote: str | None = None,
        port: int | None = None,
        transport: str = "udp",
        calls: int = 1,
        rate: float | None = None,
        service: str = "sipp",
        keys: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        auth_uri: str | None = None,
        pause_ms: int = 0,
        extra: tuple[str, ...] = (),
        tick: Callable[[float], None] = time.sleep,
        host: str = HOST,
        trace: bool = False,
    ):
        self.host = host
        self.scenario = Path(scenario) if "/" in scenario else SCENARIOS / scenario
        self.remote = remote
        self.transport = transport
        self.port = port or free_port(transport, host)
        self.fixed_port = port is not None
        self.dir = _run_dir(self.scenario.stem)
        traced = ("-trace_msg", "-message_file", str(self.dir / "messages.log")) if trace else ()
        self.build = lambda: self._args(calls, rate, service, keys or {}, auth, auth_uri, pause_ms, (*traced, *extra))
        self.args = self.build()
        self.tick = tick
        self.proc: subprocess.Popen | None = None

    def _args(self, calls, rate, service, keys, auth, auth_uri, pause_ms, extra) -> list[str]:
        keys = {"caller": "sipp", "domain": (self.remote or self.host).rsplit(":", 1)[0], **keys}
        args = [
            SIPP,
            *([self.remote] if self.remote else []),
            "-sf",
            str(self.scenario),
            "-i",
            self.host,
            "-bind_local",
            "-p",
            str(self.port),
            "-mp",
            str(free_media_port()),
            "-t",
            _SIPP_TRANSPORTS[self.transport],
            "-m",
            str(calls),
            "-s",
            service,
            "-d",
            str(pause_ms),
            "-nostdin",
            "-trace_stat",
            "-stf",
            str(self.dir / "stat.csv"),
            "-trace_err",
            "-error_file",
            str(self.dir / "errors.log"),
            "-trace_screen",
            "-screen_file",
            str(self.dir / "screen.log"),
        ]
        if rate:
            args += ["-r", str(rate)]
        if auth:
            args += ["-au", auth[0], "-ap", auth[1], "-auth_uri", auth_uri or f"{service}@{keys['domain']}"]
        for name, value in keys.items():
            args += ["-key", name, value]
        return args + list(extra)

    def start(self, timeout: float = 5.0, attempts: int = 3) -> Sipp:
        """Start in the background and wait until SIPp holds its port. The ports were free when chosen, but another
        process may take one before SIPp binds it: SIPp then ends at once, and is started again on fresh ports."""
        for attempt in range(1, attempts + 1):
            with (self.dir / "stdout.log").open("wb") as out:
                self.proc = subprocess.Popen(
                    self.args, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=self.dir
                )
            bound = self._bound(timeout)
            if bound or self.fixed_port or attempt == attempts or self.proc.poll() is None:
                break
            self.port = free_port(self.transport, self.host)
            self.args = self.build()
        if not bound:
            self.proc.kill()
            output = self._read("stdout.log")
            raise RuntimeError(f"sipp did not start: {output[:1500]}\n...\n{output[-1500:]}")
        return self

    def _bound(self, timeout: float) -> bool:
        """Whether SIPp took its port before it ended or `timeout` passed."""
        deadline = time.monotonic() + timeout
        while not _port_taken(self.port, self.transport, self.host):
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def _exited(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                return False
            self.tick(0.02)
        return True

    def _kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def wait(self, timeout: float = 30.0) -> SippResult:
        """Wait for SIPp to finish by itself; kill it and raise TimeoutError after `timeout` seconds."""
        if not self._exited(timeout):
            self._kill()
            raise TimeoutError(f"sipp {self.scenario.name} ran over {timeout}s:\n{self.result().describe()}")
        return self.result()

    def run(self, timeout: float = 30.0) -> SippResult:
        return self.start().wait(timeout)

    def stop(self, timeout: float = 5.0) -> SippResult:
        """Soft exit (SIGUSR1: no new calls, finish the ongoing ones), killed if still there after `timeout`."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGUSR1)
            if not self._exited(timeout):
                self._kill()
        return self.result()

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def result(self) -> SippResult:
        stats = self._last_stats()
        return SippResult(
            self.proc.returncode,
            int(stats.get("SuccessfulCall(C)", 0)),
            int(stats.get("FailedCall(C)", 0)),
            stats,
            self._read("errors.log"),
            self._read("screen.log"),
        )

    def messages(self) -> str:
        """Every message SIPp sent and received so far (a `trace` run)."""
        return self._read("messages.log")

    def _last_stats(self) -> dict[str, str]:
        path = self.dir / "stat.csv"
        if not path.exists():
            return {}
        rows = list(csv.DictReader(path.open(newline=""), delimiter=";"))
        return rows[-1] if rows else {}

    def _read(self, name: str) -> str:
        path = self.dir / name
        return path.read_text(errors="replace") if path.exists() else ""
