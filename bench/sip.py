"""SIP benchmark: cloudpbx's registrar and B2BUA against Kamailio 5.6 doing the same work, both driven by SIPp.

Run with the project's interpreter: `.venv/bin/python bench/sip.py [--quick] [--duration S] [--only ...]`.
Both servers run on loopback, pinned to the same core; SIPp and the RTP generator run on another. It measures
digest registrations per second, the call setup rate held without a failed call (and its p95 setup time), the
largest number of concurrent calls held, and the largest number of relayed G.711 calls with <0.1% packet loss
(Kamailio with rtpengine there). Each figure is printed with its ratio to Kamailio's, measured in the same run,
and PASS/MISS against cloudpbx's goal. Timings are reported, never asserted.

The offnet measure is cloudpbx's alone: callers dial a flat-rate number (+1NPANXXXXXX) that no callflow holds, so
the account's default `no_match` callflow sends it to `offnet`, the route plan picks the global carrier and takes
an outbound trunk (released at hangup), and a carrier leg calls the gateway, a SIPp UAS on 127.0.0.2. Its figures
are printed beside the on-net ones of the same run, with the ratio offnet/on-net.

The per-minute measure (`perminute`) is the offnet path with balance checks on: callers dial a Caribbean number
(+1876..., never a flat-rate trunk's) that the signalling account pays per minute from a credited balance, so each
call's limits decision reads the balance and the running cost of the calls in progress, the call is rated by the
default deck before it rings, its answer marks its lease, and its hangup writes one ledger debit. After the run the
books are checked: the sum of the debits equals the sum of the carrier legs' CDR costs to the unit, and the balance
moved by exactly that sum (PASS/MISS).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from rtp_load import DRAIN_S, HOST, PTIME_S, Phone, bind, phone_port, play  # noqa: E402  shared with bench/media.py
from tests.sip.sipp import Sipp, free_port  # noqa: E402  the test harness's SIPp runner

SCENARIOS = BENCH / "sipp"
KAMAILIO_CFG = BENCH / "kamailio" / "kamailio.cfg"
SIGNALLING_REALM, MEDIA_REALM = "signalling.bench.test", "media.bench.test"
CARRIER_HOST = "127.0.0.2"  # the global carrier's gateway: a SIPp UAS on a loopback address of its own
OFFNET_NUMBER = "+14155550142"  # flat rate (+1 and ten digits, not toll-free): calls take trunks
PER_MINUTE_NUMBER = "+18765550142"  # Caribbean: never a trunk's, so per minute against the balance
PER_MINUTE_CREDIT_UNITS = 10**12  # $100 million: no run spends it
CALLEE = "2000"  # the number dialled, and the SIP username of the SIPp UAS that answers
ADMIN_PASSWORD = "bench-admin-pass-1"

REG_IN_FLIGHT = 100  # registrations SIPp keeps open at once: a closed loop, so the server sets the pace
REG_OFFERED_RATE = 50_000
REG_EXPIRES = 3600
SETUP_TALK_S = 1.0  # how long each call of the setup-rate test lasts once answered
RAMP_RATE = 100  # calls/s while filling up the concurrent calls: well inside what both servers set up cleanly
MEDIA_RAMP_RATE = 50
MEDIA_SETUP_MARGIN_S = 20  # how much longer than the ramp the last relayed call may take to come up
RECV_TIMEOUT_MS = 10_000  # a call waiting longer than this for an answer fails
ATTEMPTS = 2  # a step counts as failed when it fails twice: the other processes on a machine only slow it down
HOLD_ATTEMPTS = 3  # rates tried for the full duration, from the best probe down
SLACK_S = 3.0  # a run may end this much later than its calls should have; later means the rate was not kept
SIPP_BUFFER_BYTES = 4 * 1024 * 1024  # capped by net.core.rmem_max / wmem_max
KAMAILIO_SHM_MB = 1024  # tm keeps each transaction ~5 s after it ends: 256 MB runs out near 2,000 calls/s
LOAD_BOUND = 0.85  # SIPp using this share of its core or more: the figure may be the load generator's limit

CLOUDPBX_RTP_PORTS = "20000-26999"  # relay ports of both servers stay below Linux's ephemeral range (32768-)
RTPENGINE_PORTS = (27000, 32000)
SIPP_MEDIA_PORTS = (10000, 19990)  # SIPp's own media sockets (unused: the RTP generator plays the calls)

GOAL_REGS = 2000
GOAL_CPS = 400
GOAL_OFFNET_CPS = 300
GOAL_P95_MS = 200.0
GOAL_CONCURRENT = 2000
GOAL_MEDIA_CALLS = 300
GOAL_LOSS = 0.001
MIN_RATE_SHARE = 0.95  # the RTP generator must have kept 95% of the nominal packet rate for a level to count

RATES = "100,200,300,400,500,600,800,1000,1500,2000"
OFFNET_RATES = "100,200,300,400,500,600,800,1000"
CONCURRENT_LEVELS = "1000,2000,3000,4000"
MEDIA_LEVELS = "100,200,300,400,500,600"
TESTS = ("reg", "calls", "offnet", "perminute", "concurrent", "media")
SERVERS = ("cloudpbx", "kamailio")


# Processes --------------------------------------------------------------------------------------------------------


def cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """(server cpus, load cpus): the last core for SIPp and the RTP generator, the others for the servers."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def pin(pid: int, cpus: set[int] | None) -> None:
    if cpus:
        os.sched_setaffinity(pid, cpus)


def _stat(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (Linux); None once the process is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def _cpu_seconds(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """User plus system CPU seconds a live process has used."""
    fields = _stat(pid)
    return _cpu_seconds(fields) if fields else 0.0


def reaped_children_cpu() -> float:
    """CPU seconds of this process's children that have ended and been waited for (SIPp client runs)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def group_cpu(pgids: list[int]) -> float:
    """CPU seconds of every live process in these process groups (Kamailio forks its workers)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        fields = _stat(entry.name) if entry.name.isdigit() else None
        if fields and int(fields[2]) in pgids:
            total += _cpu_seconds(fields)
    return total


class Processes:
    """Everything the bench starts; servers get a session of their own so their whole group can be ended."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.servers: list[subprocess.Popen] = []
        self.sipps: list[Sipp] = []

    def server(self, name: str, args: list[str], cpus: set[int] | None, env: dict | None = None) -> subprocess.Popen:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=self.workdir,
            start_new_session=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
        )
        self.servers.append(proc)
        return proc

    def sipp(self, sipp: Sipp, cpus: set[int] | None) -> Sipp:
        """Start SIPp and move it to the load cpus. A short client run may be over before `Sipp.start` saw its
        port; that is a finished run, not a failed start."""
        self.sipps.append(sipp)
        try:
            sipp.start()
        except RuntimeError:
            if sipp.proc is None or sipp.proc.returncode not in (0, 1):
                raise
            return sipp
        with contextlib.suppress(ProcessLookupError):
            pin(sipp.proc.pid, cpus)
        return sipp

    def log_tail(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop_server(self, proc: subprocess.Popen) -> None:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)
        _signal_group(proc.pid, signal.SIGKILL)  # workers that outlived their main process
        proc.wait()

    def close(self) -> None:
        for sipp in self.sipps:
            if sipp.proc and sipp.proc.poll() is None:
                sipp.proc.kill()
                sipp.proc.wait()
        for proc in reversed(self.servers):
            self.stop_server(proc)


def sipp_media_port() -> int:
    """A port p below the ephemeral range with p and p + 2 free: SIPp binds both for media echo, and a p + 2
    taken by another process (the RTP generator binds hundreds of ephemeral ports) makes it exit at start."""
    while True:
        port = 2 * secrets.randbelow(SIPP_MEDIA_PORTS[1] // 2 - SIPP_MEDIA_PORTS[0] // 2) + SIPP_MEDIA_PORTS[0]
        with (
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as low,
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as high,
        ):
            try:
                low.bind((HOST, port))
                high.bind((HOST, port + 2))
            except OSError:
                continue
        return port


def udp_drops() -> int:
    """Datagrams the kernel dropped, machine-wide, because a socket's receive buffer was full: a reader (server
    or SIPp) falling behind (RcvbufErrors in /proc/net/snmp)."""
    rows = [line.split() for line in Path("/proc/net/snmp").read_text().splitlines() if line.startswith("Udp:")]
    return int(dict(zip(rows[0], rows[1], strict=True)).get("RcvbufErrors", 0))


def _signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, sig)


def wait_port(proc: subprocess.Popen, port: int, what: str, processes: Processes, name: str) -> None:
    """Until something accepts TCP connections on `port` (the servers listen on TCP and UDP together)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited:\n{processes.log_tail(name)}")
        with socket.socket() as sock:
            if sock.connect_ex((HOST, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not listen on {port} in time:\n{processes.log_tail(name)}")


# Devices: the same credentials on both servers ---------------------------------------------------------------------


@dataclass
class Devices:
    """SIP credentials u0..u{count-1} in each realm, the callee's, and the SIPp injection files that use them."""

    count: int
    media_count: int
    token: str = field(default_factory=lambda: secrets.token_hex(4))

    def password(self, index: int) -> str:
        return f"pw{index}-{self.token}"

    @property
    def callee_password(self) -> str:
        return f"callee-{self.token}"

    def auth(self, index: int) -> str:
        """SIPp's keyword answering a challenge as device `index` (a field of the injection files)."""
        return f"[authentication username=u{index} password={self.password(index)}]"

    def write_files(self, workdir: Path) -> dict[str, Path]:
        rows = {
            "callers": [f"u{i};{self.auth(i)}" for i in range(self.count)],
            "callee": [f"{CALLEE};[authentication username={CALLEE} password={self.callee_password}]"],
        }
        return {name: write_injection(workdir / f"{name}.csv", lines) for name, lines in rows.items()}


def write_injection(path: Path, lines: list[str]) -> Path:
    """A SIPp injection file (-inf): one call per line, in order."""
    path.write_text("SEQUENTIAL\n" + "\n".join(lines) + "\n")
    return path


# The servers ------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    """A running server under test: where its SIP listens and the process groups whose CPU it uses."""

    name: str
    port: int
    pgids: list[int]

    @property
    def remote(self) -> str:
        return f"{HOST}:{self.port}"

    def cpu(self) -> float:
        return group_cpu(self.pgids)


async def seed_cloudpbx(workdir: Path, db_url: str, devices: Devices, carrier_port: int, trunks: int) -> str:
    """Both accounts, their devices (written straight to the store, as many as asked) and the callee's callflow;
    the global carrier whose gateway is CARRIER_HOST:`carrier_port`, and `trunks` outbound trunks for the
    signalling account (whose default `no_match` callflow sends other numbers to `offnet`), its credit for
    per-minute calls and the default deck's rate for them. Returns the signalling account's id.

    In the signalling realm every device has `bypass_media`, so calls are pure signalling; in the media realm
    media is anchored through the relay (the default).
    """
    from cloudpbx.accounts import limits
    from cloudpbx.accounts.documents import checked
    from cloudpbx.accounts.kinds import CALLFLOW, DEVICE
    from cloudpbx.accounts.resources import RESOURCE
    from cloudpbx.billing import ledgers
    from cloudpbx.billing.decks import DEFAULT_DECK, Manager
    from cloudpbx.cli.bootstrap import ensure_master
    from cloudpbx.config import Settings
    from cloudpbx.platform import Platform
    from cloudpbx.store import SYSTEM, new_id

    platform = await Platform.open(Settings(data_dir=workdir, db_url=db_url))
    try:
        await ensure_master(platform, ADMIN_PASSWORD)
        master_id = await platform.accounts.master_id()
        carrier = {
            "name": "Bench carrier",
            "rules": [r"^\+1(\d{10})$"],
            "gateways": [{"server": CARRIER_HOST, "port": carrier_port}],
        }
        await platform.documents.create(RESOURCE, SYSTEM, carrier)
        for realm, count, bypass in (
            (SIGNALLING_REALM, devices.count, True),
            (MEDIA_REALM, devices.media_count, False),
        ):
            account = await platform.accounts.create(master_id, {"name": f"Bench {realm}", "realm": realm})
            account_id = account["_id"]
            if realm == SIGNALLING_REALM:
                await limits.save(platform.store, account_id, {"outbound_trunks": trunks})
                signalling = account_id
            media = {"bypass_media": bypass}
            template = checked(DEVICE, {"name": "Desk", "device_type": "sip_device", "media": media})
            async with platform.store.write() as tx:
                for i in range(count):
                    doc = dict(
                        template,
                        name=f"Desk {i}",
                        sip={"username": f"u{i}", "password": devices.password(i)},
                        _id=new_id(),
                        pvt_type=DEVICE.type,
                        pvt_account_id=account_id,
                        pvt_vsn="1",
                    )
                    await tx.save(doc, DEVICE.keys(account_id, doc))
            callee = await platform.documents.create(
                DEVICE,
                account_id,
                {
                    "name": "Callee",
                    "device_type": "sip_device",
                    "media": media,
                    "sip": {"username": CALLEE, "password": devices.callee_password},
                },
            )
            await platform.documents.create(
                CALLFLOW,
                account_id,
                {
                    "name": "Callee",
                    "numbers": [CALLEE],
                    "flow": {"module": "device", "data": {"id": callee["_id"]}, "children": {}},
                },
            )
        credit = ledgers.Change(ledgers.PAYMENTS, "bench", "credit", PER_MINUTE_CREDIT_UNITS)
        await ledgers.write(platform.store, signalling, credit)
        deck = "prefix,rate_cost,rate_increment,rate_minimum,rate_surcharge,rate_name\n1876,0.0125,6,6,0.01,jm\n"
        await platform.ratedecks.upload(
            Manager(master_id, superduper=True, reseller=False), DEFAULT_DECK, deck.encode()
        )
        return signalling
    finally:
        await platform.close()


def start_cloudpbx(processes: Processes, workdir: Path, db_url: str, cpus) -> Target:
    sip_port, http_port = free_port("tcp"), free_port("tcp")
    env = dict(
        os.environ,
        CLOUDPBX_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CLOUDPBX_RATE_LIMIT="100000000/100000000",
        PYTHONPATH=str(ROOT / "src"),
    )
    proc = processes.server(
        "cloudpbx",
        [
            sys.executable,
            "-m",
            "cloudpbx",
            "serve",
            "--data-dir",
            str(workdir),
            "--db",
            db_url,
            "--http",
            f"{HOST}:{http_port}",
            "--sip",
            f"{HOST}:{sip_port}",
            "--rtp-ports",
            CLOUDPBX_RTP_PORTS,
        ],
        cpus,
        env,
    )
    wait_port(proc, http_port, "cloudpbx serve", processes, "cloudpbx")  # SIP starts before the API
    return Target("cloudpbx", sip_port, [proc.pid])


def write_kamailio_db(folder: Path, devices: Devices) -> None:
    """The db_text table the htable `passwords` loads at start: key "user@realm", value the password."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "version").write_text("id(int,auto) table_name(string) table_version(int)\n0:devices:2\n")
    rows = ["id(int,auto) key_name(string) key_type(int) value_type(int) key_value(string) expires(int)"]
    entries = [
        (realm, f"u{i}", devices.password(i))
        for realm, count in ((SIGNALLING_REALM, devices.count), (MEDIA_REALM, devices.media_count))
        for i in range(count)
    ]
    entries += [(realm, CALLEE, devices.callee_password) for realm in (SIGNALLING_REALM, MEDIA_REALM)]
    rows += [f"{n}:{user}@{realm}:0:0:{password}:0" for n, (realm, user, password) in enumerate(entries, 1)]
    (folder / "devices").write_text("\n".join(rows) + "\n")


def start_kamailio(processes: Processes, workdir: Path, devices: Devices, cpus, children: int, media: bool) -> Target:
    """Kamailio from bench/kamailio/kamailio.cfg; with `media`, rtpengine (userspace forwarding) beside it."""
    name = "kamailio-media" if media else "kamailio"
    folder = workdir / name
    write_kamailio_db(folder / "db", devices)
    (folder / "run").mkdir(exist_ok=True)
    port, ng_port = free_port("tcp"), free_port("udp")
    config = KAMAILIO_CFG.read_text()
    for key, value in {
        "CHILDREN": str(children),
        "PORT": str(port),
        "DBDIR": str(folder / "db"),
        "SECRET": secrets.token_hex(16),
        "NG_PORT": str(ng_port),
        "SIGNALLING_REALM": SIGNALLING_REALM,
        "MEDIA_REALM": MEDIA_REALM,
    }.items():
        config = config.replace(f"@{key}@", value)
    (folder / "kamailio.cfg").write_text(config)
    pgids = []
    if media:
        rtpengine = processes.server(
            "rtpengine",
            [
                "rtpengine",
                "--foreground",
                "--log-stderr",
                "--log-level=4",
                "--table=-1",
                f"--interface={HOST}",
                f"--listen-ng={HOST}:{ng_port}",
                f"--port-min={RTPENGINE_PORTS[0]}",
                f"--port-max={RTPENGINE_PORTS[1]}",
                "--delete-delay=0",
                f"--pidfile={folder / 'run' / 'rtpengine.pid'}",
            ],
            cpus,
        )
        pgids.append(rtpengine.pid)
        time.sleep(1)
        if rtpengine.poll() is not None:
            raise RuntimeError(f"rtpengine exited:\n{processes.log_tail('rtpengine')}")
    proc = processes.server(
        name,
        [
            "kamailio",
            "-f",
            str(folder / "kamailio.cfg"),
            "-DD",
            "-E",
            "-m",
            str(KAMAILIO_SHM_MB),
            "-M",
            "16",
            "-Y",
            str(folder / "run"),
            *(["-A", "WITH_MEDIA"] if media else []),
        ],
        cpus,
    )
    wait_port(proc, port, "kamailio", processes, name)
    return Target("kamailio", port, pgids + [proc.pid])


# SIPp runs --------------------------------------------------------------------------------------------------------


def stat_rows(sipp: Sipp) -> list[dict[str, str]]:
    path = sipp.dir / "stat.csv"
    if not path.exists():
        return []
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle, delimiter=";"))


def retransmissions(sipp: Sipp) -> int:
    rows = stat_rows(sipp)
    return int(rows[-1].get("Retransmissions(C)", 0) or 0) if rows else 0


def row_time(row: dict[str, str]) -> float:
    return float(row["CurrentTime"].split("\t")[-1])


def setup_times_ms(sipp: Sipp) -> list[float]:
    """Every response time 1 (-trace_rtt) the run measured, in ms."""
    values = []
    for path in sipp.dir.glob("*_rtt.csv"):
        with path.open(newline="") as handle:
            values += [float(row["response_time_ms"]) for row in csv.DictReader(handle, delimiter=";")]
    return sorted(values)


def percentile(ordered: list[float], share: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(len(ordered) * share))] if ordered else None


STATS = ("-trace_stat", "-fd", "1", "-trace_rtt", "-rtt_freq", "1")  # stats each second, every response time


@dataclass
class Bench:
    """What every measurement needs: the processes, the cpus, the devices and their injection files."""

    processes: Processes
    workdir: Path
    devices: Devices
    files: dict[str, Path]
    load_cpus: set[int] | None
    contact_port: int = field(default_factory=lambda: free_port("udp"))
    uas: dict[str, Sipp] = field(default_factory=dict)  # each target's answering SIPp, by target name
    carrier: Sipp | None = None  # the carrier's gateway (cloudpbx's offnet calls)

    def load_cpu(self, target: Target) -> float:
        """CPU seconds of SIPp: the client runs that ended, plus the target's answering SIPp and the carrier's."""
        answering = [sipp for sipp in (self.uas.get(target.name), self.carrier) if sipp and sipp.proc]
        return reaped_children_cpu() + sum(process_cpu(sipp.proc.pid) for sipp in answering)

    def sipp(self, scenario: str, target: Target | None, **options) -> Sipp:
        """A SIPp process for `scenario` (bench/sipp/), calling `target` unless it is a UAS; socket buffers as
        large as the kernel allows, since SIPp's 64 kB default drops datagrams in bursts, and its media ports
        (the last -mp counts) out of the way of the RTP generator's."""
        options["extra"] = (
            "-buff_size",
            str(SIPP_BUFFER_BYTES),
            "-mp",
            str(sipp_media_port()),
            *options.get("extra", ()),
        )
        return Sipp(str(SCENARIOS / scenario), remote=target.remote if target else None, **options)

    def run(self, sipp: Sipp, timeout: float) -> tuple[Sipp, bool]:
        """Run a client scenario to its end; False when it had to be killed after `timeout`."""
        self.processes.sipp(sipp, self.load_cpus)
        try:
            sipp.wait(timeout)
        except TimeoutError:
            return sipp, False
        return sipp, True

    def register(
        self,
        target: Target,
        realm: str,
        inf: str,
        calls: int,
        port: int | None = None,
        contact_port: int | None = None,
        extra: tuple[str, ...] = (),
    ) -> Sipp:
        keys = {
            "domain": realm,
            "contact_host": HOST,
            "contact_port": str(contact_port or self.contact_port),
            "expires": str(REG_EXPIRES),
        }
        return self.sipp(
            "register.xml",
            target,
            port=port,
            calls=calls,
            rate=REG_OFFERED_RATE,
            keys=keys,
            extra=("-inf", str(self.files[inf]), "-l", str(REG_IN_FLIGHT)) + extra,
        )

    def register_callee(self, target: Target, realm: str, port: int) -> None:
        """Register the callee from `port`, where its SIPp UAS will listen: the source of the REGISTER is the
        address cloudpbx reaches a phone on loopback at (as behind NAT), the Contact the one Kamailio uses."""
        sipp, finished = self.run(self.register(target, realm, "callee", 1, port=port, contact_port=port), 30)
        result = sipp.result()
        if not finished or not result.ok:
            raise RuntimeError(f"the callee could not register with {target.name}:\n{result.describe()}")

    def answering(
        self,
        port: int,
        scenario: str = "uas.xml",
        extra: tuple[str, ...] = (),
        keys: dict[str, str] | None = None,
        host: str = HOST,
    ) -> Sipp:
        """A SIPp UAS on `host`:`port` answering every call (a background process)."""
        return self.processes.sipp(
            self.sipp(scenario, None, port=port, calls=10**8, keys=keys, extra=extra, host=host), self.load_cpus
        )


# 1. Registrations -------------------------------------------------------------------------------------------------


@dataclass
class RegResult:
    rate: float
    failed: int
    p50_ms: float | None
    p95_ms: float | None
    server_cpu: float  # share of a core
    sipp_cpu: float
    drops: int

    @property
    def cpu_us(self) -> float | None:
        """Server CPU per registration (two REGISTER transactions)."""
        return 1e6 * self.server_cpu / self.rate if self.rate else None


def measure_registrations(bench: Bench, target: Target, seconds: float) -> RegResult:
    """Every device registers once (so the measured ones are refreshes, as in steady state), then SIPp keeps
    REG_IN_FLIGHT registrations open for `seconds`; the rate counts from the second second on."""
    count = bench.devices.count
    warm, finished = bench.run(bench.register(target, SIGNALLING_REALM, "callers", count), 60 + count / 100)
    if not finished or warm.result().failed:
        print(f"  warning: the first registration of every device had failures: {warm.result()!r}")
    sipp = bench.processes.sipp(
        bench.register(target, SIGNALLING_REALM, "callers", 10**9, extra=STATS), bench.load_cpus
    )
    time.sleep(1)
    server0, sipp0, drops0 = target.cpu(), process_cpu(sipp.proc.pid), udp_drops()
    wall0 = time.monotonic()
    time.sleep(seconds)
    wall = time.monotonic() - wall0
    server_cpu, sipp_cpu = (target.cpu() - server0) / wall, (process_cpu(sipp.proc.pid) - sipp0) / wall
    sipp.stop(timeout=15)
    rows = stat_rows(sipp)
    begin = rows[0] if rows else None
    window = [row for row in rows if begin and row_time(row) - row_time(begin) >= 1]
    rate = 0.0
    if len(window) >= 2:
        first, last = window[0], window[-1]
        rate = (int(last["SuccessfulCall(C)"]) - int(first["SuccessfulCall(C)"])) / (row_time(last) - row_time(first))
    failed = int(rows[-1]["FailedCall(C)"]) if rows else 0
    times = setup_times_ms(sipp)
    return RegResult(
        rate, failed, percentile(times, 0.5), percentile(times, 0.95), server_cpu, sipp_cpu, udp_drops() - drops0
    )


# 2. Call setups ---------------------------------------------------------------------------------------------------


@dataclass
class CallRun:
    rate: int
    seconds: float
    calls: int
    successful: int
    failed: int
    elapsed: float
    p95_ms: float | None
    server_cpu: float
    sipp_cpu: float
    finished: bool
    drops: int
    retransmissions: int  # by SIPp: messages it sent again because an answer came late or not at all

    @property
    def cpu_ms(self) -> float | None:
        """Server CPU per call set up and torn down."""
        return 1000 * self.server_cpu * self.elapsed / self.successful if self.successful else None

    @property
    def passed(self) -> bool:
        return (
            self.finished
            and self.failed == 0
            and self.successful == self.calls
            and self.elapsed <= self.seconds + SETUP_TALK_S + SLACK_S
            and self.p95_ms is not None
            and self.p95_ms < GOAL_P95_MS
        )


def call_run(bench: Bench, target: Target, rate: int, seconds: float, number: str = CALLEE) -> CallRun:
    """`rate` calls/s to `number` for `seconds` (open loop: SIPp keeps starting calls whatever the answers)."""
    calls = max(1, round(rate * seconds))
    sipp = bench.sipp(
        "call.xml",
        target,
        calls=calls,
        rate=rate,
        service=number,
        keys={"domain": SIGNALLING_REALM},
        pause_ms=int(SETUP_TALK_S * 1000),
        extra=(
            "-inf",
            str(bench.files["callers"]),
            "-l",
            str(int(rate * (SETUP_TALK_S + 5)) + 100),
            "-recv_timeout",
            str(RECV_TIMEOUT_MS),
            *STATS,
        ),
    )
    server0, load0, drops0, wall0 = target.cpu(), bench.load_cpu(target), udp_drops(), time.monotonic()
    sipp, finished = bench.run(sipp, seconds + SETUP_TALK_S + RECV_TIMEOUT_MS / 1000 + 60)
    elapsed = time.monotonic() - wall0
    result = sipp.result()
    return CallRun(
        rate,
        seconds,
        calls,
        result.successful,
        result.failed,
        elapsed,
        percentile(setup_times_ms(sipp), 0.95),
        (target.cpu() - server0) / elapsed,
        (bench.load_cpu(target) - load0) / elapsed,
        finished,
        udp_drops() - drops0,
        retransmissions(sipp),
    )


@dataclass
class CallsResult:
    steps: list[CallRun]
    held: CallRun | None  # the highest rate that also held for the full duration
    capped: bool  # every step passed: the figure is a lower bound set by the steps offered

    @property
    def rate(self) -> int:
        return self.held.rate if self.held else 0


def measure_calls(
    bench: Bench, target: Target, rates: list[int], probe_s: float, duration: float, number: str = CALLEE
) -> CallsResult:
    """Step the rate up with short probes until one fails twice (a failed call, p95 over the goal, or the rate
    not kept), then hold the best rate for `duration` seconds, stepping down when a hold fails. Calls go to
    `number`: the on-net callee, or OFFNET_NUMBER through the carrier (shown as `offnet`)."""
    name = target.name if number == CALLEE else "perminute" if number == PER_MINUTE_NUMBER else "offnet"
    steps = []
    for rate in rates:
        for _ in range(ATTEMPTS):
            run = call_run(bench, target, rate, probe_s, number)
            show_call_run(name, "probe", run, run.passed)
            if run.passed:
                break
        steps.append(run)
        if not run.passed:
            break
    for run in sorted((s for s in steps if s.passed), key=lambda s: -s.rate)[:HOLD_ATTEMPTS]:
        held = call_run(bench, target, run.rate, duration, number)
        show_call_run(name, "hold", held, held.passed)
        if held.passed:
            return CallsResult(steps, held, all(s.passed for s in steps) and held.rate == rates[-1])
    return CallsResult(steps, None, False)


def show_call_run(name: str, kind: str, run: CallRun, passed: bool) -> None:
    p95 = f"{run.p95_ms:.0f}" if run.p95_ms is not None else "n/a"
    print(
        f"  {name:<9}{kind:<6}{run.rate:>6} calls/s x {run.seconds:g} s: {run.successful:>6} ok {run.failed:>5} failed"
        f"  p95 setup {p95:>5} ms  ran {run.elapsed:5.1f} s  server CPU {run.server_cpu * 100:3.0f}%"
        f" ({run.cpu_ms or 0:.2f} ms/call)"
        f"  SIPp CPU {run.sipp_cpu * 100:3.0f}%  UDP drops {run.drops}  resent {run.retransmissions}"
        f"  {'pass' if passed else 'FAIL'}",
        flush=True,
    )


# 3a. Concurrent calls ---------------------------------------------------------------------------------------------


@dataclass
class ConcurrentRun:
    level: int
    successful: int
    failed: int
    peak: int  # most calls SIPp had up at once
    finished: bool

    @property
    def passed(self) -> bool:
        return self.finished and self.failed == 0 and self.successful == self.level and self.peak >= self.level


def concurrent_run(bench: Bench, target: Target, level: int, hold_s: float, ramp_rate: int) -> ConcurrentRun:
    """`level` calls started at `ramp_rate`/s, each lasting long enough that all are up together for `hold_s`."""
    ramp_s = level / ramp_rate
    talk_s = ramp_s + hold_s
    sipp = bench.sipp(
        "call.xml",
        target,
        calls=level,
        rate=ramp_rate,
        service=CALLEE,
        keys={"domain": SIGNALLING_REALM},
        pause_ms=int(talk_s * 1000),
        extra=("-inf", str(bench.files["callers"]), "-l", str(level), "-recv_timeout", str(RECV_TIMEOUT_MS), *STATS),
    )
    sipp, finished = bench.run(sipp, 2 * ramp_s + hold_s + 90)
    result = sipp.result()
    peak = max((int(row["CurrentCall"]) for row in stat_rows(sipp)), default=0)
    run = ConcurrentRun(level, result.successful, result.failed, peak, finished)
    print(
        f"  {target.name:<9}{level:>6} concurrent calls held {hold_s:g} s: {run.successful:>6} ok {run.failed:>5} "
        f"failed  peak {peak:>6}  {'pass' if run.passed else 'FAIL'}",
        flush=True,
    )
    return run


def measure_concurrent(
    bench: Bench, target: Target, levels: list[int], hold_s: float, ramp_rate: int
) -> tuple[int, bool]:
    """(the largest level held without a failed call, whether every level offered passed)."""
    best = 0
    for level in levels:
        if not any(concurrent_run(bench, target, level, hold_s, ramp_rate).passed for _ in range(ATTEMPTS)):
            return best, False
        best = level
    return best, True


# 3b. Relayed G.711 calls: the RTP generator (a separate process) ----------------------------------------------------


async def generate() -> None:
    """Serve the bench's commands, one JSON line each on stdin; answer each with one line on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    phones: dict[int, Phone] = {}
    targets: dict[int, int] = {}
    delays: list[int] = []
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "bind":
            for phone in phones.values():
                phone.transport.close()
            phones = {phone_port(phone): phone for phone in await bind(command["count"], delays)}
            reply = {"ports": list(phones)}
        elif command["cmd"] == "targets":
            targets = await wait_for_targets(Path(command["events"]), set(phones), command["wait"])
            reply = {"ready": len(targets)}
        else:
            reply = await play(
                [(phones[ours], relay) for ours, relay in targets.items()],
                list(phones.values()),
                command["seconds"],
                delays,
            )
        print(json.dumps(reply), flush=True)


async def wait_for_targets(events: Path, ports: set[int], wait_s: float) -> dict[int, int]:
    """Read "<a|b> <our port> <relay port>" lines the SIPp scenarios append until every phone knows where
    to send, or `wait_s` passes."""
    targets: dict[int, int] = {}
    deadline = time.monotonic() + wait_s
    while len(targets) < len(ports) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        text = await asyncio.to_thread(lambda: events.read_text() if events.exists() else "")
        for line in text.split("\n")[:-1]:  # whole lines only: a writer may be mid-line
            _side, ours, relay = line.split()
            if int(ours) in ports:
                targets[int(ours)] = int(relay)
    return targets


class Generator:
    """The RTP generator process, pinned to the load core, and its command line."""

    def __init__(self, processes: Processes, cpus: set[int] | None):
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--generator"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None,
            start_new_session=True,
        )
        processes.servers.append(self.proc)

    def ask(self, **command) -> dict:
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the RTP generator exited")
        return json.loads(line)


# 3b. Relayed G.711 calls: the levels --------------------------------------------------------------------------------


@dataclass
class MediaRun:
    level: int
    successful: int
    failed: int
    ready: int  # phones that learnt their relay port
    loss: float
    rate_share: float  # packets sent over the nominal 2 x 50 per call and second
    delay_p50_ms: float | None
    delay_p99_ms: float | None
    server_cpu: float
    generator_cpu: float

    @property
    def passed(self) -> bool:
        return (
            self.failed == 0
            and self.successful == self.level
            and self.ready == 2 * self.level
            and self.loss < GOAL_LOSS
            and self.rate_share >= MIN_RATE_SHARE
        )


def media_run(
    bench: Bench, target: Target, generator: Generator, uas_port: int, level: int, seconds: float
) -> MediaRun:
    """`level` calls with anchored media: SIPp sets them up, then the generator plays PCMU both ways on each for
    `seconds` and counts what the relay delivered."""
    events = bench.workdir / f"events-{target.name}-{level}.txt"
    ports = generator.ask(cmd="bind", count=2 * level)["ports"]
    callers = write_injection(
        bench.workdir / f"media-callers-{level}.csv",
        [f"u{i};{bench.devices.auth(i)};{port}" for i, port in enumerate(ports[:level])],
    )
    callee_ports = write_injection(bench.workdir / f"media-callee-{level}.csv", [str(p) for p in ports[level:]])
    ramp_s = level / MEDIA_RAMP_RATE
    talk_s = ramp_s + MEDIA_SETUP_MARGIN_S + seconds + DRAIN_S + 2  # every call outlasts the play
    uas = bench.answering(uas_port, "uas_media.xml", keys={"events": str(events)}, extra=("-inf", str(callee_ports)))
    uac = bench.sipp(
        "call_media.xml",
        target,
        calls=level,
        rate=MEDIA_RAMP_RATE,
        service=CALLEE,
        keys={"domain": MEDIA_REALM, "events": str(events)},
        pause_ms=int(talk_s * 1000),
        extra=(
            "-inf",
            str(callers),
            "-l",
            str(level),
            "-recv_timeout",
            str(RECV_TIMEOUT_MS),
            "-trace_stat",
            "-fd",
            "1",
        ),
    )
    bench.processes.sipp(uac, bench.load_cpus)
    ready = generator.ask(cmd="targets", events=str(events), wait=ramp_s + MEDIA_SETUP_MARGIN_S)["ready"]
    server0, wall0 = target.cpu(), time.monotonic()
    played = generator.ask(cmd="play", seconds=seconds)
    server_cpu = (target.cpu() - server0) / (time.monotonic() - wall0)
    with contextlib.suppress(TimeoutError):
        uac.wait(talk_s + ramp_s + 60)
    uas.stop()
    result = uac.result()
    sent = played["sent"]
    return MediaRun(
        level,
        result.successful,
        result.failed,
        ready,
        1 - played["received"] / sent if sent else 1.0,
        sent / played["duration"] / (2 * level / PTIME_S),
        played["delay_p50_ms"],
        played["delay_p99_ms"],
        server_cpu,
        played["cpu_s"] / played["duration"],
    )


def measure_media(
    bench: Bench, target: Target, generator: Generator, uas_port: int, levels: list[int], seconds: float
) -> tuple[int, bool, list[MediaRun]]:
    """(the largest level relayed with <0.1% loss, whether every level offered passed, the runs); a level
    fails when it fails twice."""
    runs = []
    for level in levels:
        for _ in range(ATTEMPTS):
            run = media_run(bench, target, generator, uas_port, level, seconds)
            show_media_run(target.name, run)
            if run.passed:
                break
        runs.append(run)
        if not run.passed:
            break
    best = max((run.level for run in runs if run.passed), default=0)
    return best, all(run.passed for run in runs) and len(runs) == len(levels), runs


def show_media_run(name: str, run: MediaRun) -> None:
    delays = (
        f"transit p50 {run.delay_p50_ms:6.2f} ms p99 {run.delay_p99_ms:7.2f} ms"
        if run.delay_p50_ms is not None
        else "no packets"
    )
    print(
        f"  {name:<9}{run.level:>5} relayed calls: {run.successful:>4} ok {run.failed:>3} failed, "
        f"{run.ready}/{2 * run.level} streams up, loss {run.loss * 100:6.3f}%, "
        f"{run.rate_share * 100:3.0f}% of nominal rate, {delays}, server CPU {run.server_cpu * 100:3.0f}%, "
        f"generator CPU {run.generator_cpu * 100:3.0f}%  "
        f"{'pass' if run.passed else 'FAIL'}",
        flush=True,
    )


# The run ----------------------------------------------------------------------------------------------------------


@dataclass
class Figure:
    """One server's figure for one measure; `capped`: every step offered passed, so it is a lower bound."""

    value: float | None
    capped: bool = False
    note: str = ""
    digits: int = 0

    def text(self) -> str:
        if self.value is None:
            return "n/a"
        return f"{'>= ' if self.capped else ''}{self.value:,.{self.digits}f}"


@dataclass
class Results:
    load_before: float
    load_after: float = 0.0
    figures: dict[str, dict[str, Figure]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def put(self, measure: str, server: str, figure: Figure) -> None:
        self.figures.setdefault(measure, {})[server] = figure


@contextlib.contextmanager
def reported_failure(results: Results, test: str, target: Target):
    """A process that would not start (SIPp, a registration) ends this test on this server, not the bench."""
    try:
        yield
    except RuntimeError as exc:
        message = f"{test} on {target.name} stopped: {str(exc).strip()[:2000]}"
        print(f"  {message}", flush=True)
        results.notes.append(message.splitlines()[0])


def ready_for_calls(bench: Bench, target: Target, results: Results) -> bool:
    """Register the callee, start its answering SIPp, and try a handful of calls at 5/s: does the server
    complete calls at all? (cloudpbx's B2BUA may not be there yet.)"""
    works = False
    with reported_failure(results, "the call check", target):
        port = free_port("udp")
        bench.register_callee(target, SIGNALLING_REALM, port)
        bench.uas[target.name] = bench.answering(port)
        run = call_run(bench, target, 5, 1)
        works = run.failed == 0 and run.successful == run.calls
        show_call_run(target.name, "check", run, works)
    if not works:
        results.notes.append(f"{target.name}: calls did not complete, so no call was measured on it")
    return works


def run_registrations(bench: Bench, targets: list[Target], args, results: Results) -> None:
    print(
        f"\n1. digest registrations: {REG_IN_FLIGHT} in flight, {args.devices} devices, {args.reg_seconds:g} s each",
        flush=True,
    )
    for target in targets:
        with reported_failure(results, "registrations", target):
            record_registrations(target, measure_registrations(bench, target, args.reg_seconds), results)


def record_registrations(target: Target, reg: RegResult, results: Results) -> None:
    print(
        f"  {target.name:<9}{reg.rate:>8,.0f} registrations/s  failed {reg.failed}  p50 {reg.p50_ms} ms  "
        f"p95 {reg.p95_ms} ms  server CPU {reg.server_cpu * 100:3.0f}% ({reg.cpu_us or 0:,.0f} us/registration)"
        f"  SIPp CPU {reg.sipp_cpu * 100:3.0f}%  UDP drops {reg.drops}",
        flush=True,
    )
    bound = reg.sipp_cpu >= LOAD_BOUND
    results.put("reg", target.name, Figure(reg.rate, bound, "SIPp at its limit" if bound else ""))
    results.put("reg_p95", target.name, Figure(reg.p95_ms))
    results.put("reg_cpu", target.name, Figure(reg.cpu_us))


def run_calls(bench: Bench, targets: list[Target], args, results: Results) -> None:
    print(
        f"\n2. call setups (signalling only: cloudpbx devices have bypass_media): probes of "
        f"{args.probe_seconds:g} s, then {args.duration:g} s at the best rate",
        flush=True,
    )
    for target in targets:
        with reported_failure(results, "call setups", target):
            record_calls(target, measure_calls(bench, target, args.rates, args.probe_seconds, args.duration), results)


def record_calls(target: Target, calls: CallsResult, results: Results, measure: str = "cps") -> None:
    failing = next((step for step in calls.steps if not step.passed), None)
    bound = failing is not None and failing.sipp_cpu >= LOAD_BOUND
    results.put(
        measure,
        target.name,
        Figure(calls.rate, calls.capped or bound, "SIPp near its limit at the failing step" if bound else ""),
    )
    results.put(f"{measure}_p95", target.name, Figure(calls.held.p95_ms if calls.held else None))
    sample = calls.held or next((step for step in reversed(calls.steps) if step.passed), calls.steps[0])
    results.put(f"{measure}_cpu", target.name, Figure(sample.cpu_ms, digits=2))


def run_offnet(bench: Bench, targets: list[Target], args, results: Results) -> None:
    """cloudpbx's calls out through the global carrier (Kamailio has no carrier routing to compare with)."""
    print(
        f"\n2b. offnet call setups (signalling only) to {OFFNET_NUMBER}: no_match -> offnet -> the global carrier "
        f"(SIPp UAS on {CARRIER_HOST}), an outbound trunk taken and released per call; probes of "
        f"{args.probe_seconds:g} s, then {args.duration:g} s at the best rate",
        flush=True,
    )
    for target in (target for target in targets if target.name == "cloudpbx"):
        with reported_failure(results, "offnet call setups", target):
            bench.carrier = bench.answering(args.carrier_port, host=CARRIER_HOST)
            check = call_run(bench, target, 5, 1, OFFNET_NUMBER)
            show_call_run("offnet", "check", check, check.failed == 0 and check.successful == check.calls)
            if check.failed or check.successful != check.calls:
                results.notes.append("offnet: calls through the carrier did not complete, so none was measured")
                return
            calls = measure_calls(bench, target, args.offnet_rates, args.probe_seconds, args.duration, OFFNET_NUMBER)
            record_calls(target, calls, results, "offnet")


def run_perminute(bench: Bench, targets: list[Target], args, results: Results) -> None:
    """cloudpbx's per-minute calls through the global carrier, each debited at hangup; then the books."""
    print(
        f"\n2c. per-minute call setups (signalling only) to {PER_MINUTE_NUMBER}: no_match -> offnet, the limits "
        "decision against the balance less the running cost, rated, the answer marked on the lease, one ledger debit "
        f"per call at hangup; probes of {args.probe_seconds:g} s, then {args.duration:g} s at the best rate",
        flush=True,
    )
    for target in (target for target in targets if target.name == "cloudpbx"):
        with reported_failure(results, "per-minute call setups", target):
            bench.carrier = bench.carrier or bench.answering(args.carrier_port, host=CARRIER_HOST)
            before = asyncio.run(books(args.db_url, args.signalling))
            calls = measure_calls(
                bench, target, args.offnet_rates, args.probe_seconds, args.duration, PER_MINUTE_NUMBER
            )
            record_calls(target, calls, results, "perminute")
            after = asyncio.run(books(args.db_url, args.signalling, settle_s=30))
            debits, cdr_costs, calls_billed = (
                after.debits - before.debits,
                after.cdr_costs - before.cdr_costs,
                after.billed - before.billed,
            )
            moved = before.balance - after.balance
            exact = debits == cdr_costs == moved and calls_billed > 0
            print(
                f"  books: {calls_billed} calls billed, debits {debits} units, CDR costs {cdr_costs} units, balance "
                f"moved {moved} units: {'exact' if exact else 'NOT EXACT'}",
                flush=True,
            )
            results.put("perminute_books", target.name, Figure(1 if exact else 0))


@dataclass
class Books:
    balance: int
    debits: int  # per-minute-voip debits, units
    billed: int  # how many
    cdr_costs: int  # the carrier legs' per_minute_cost, units


async def books(db_url: str, account_id: str, settle_s: float = 0) -> Books:
    """The account's balance, per-minute debits and CDR costs, once its calls are over (their leases gone: each
    call's bill is written before its lease goes) and its CDRs stored, waiting up to `settle_s`."""
    from sqlalchemy import func, select

    from cloudpbx.billing import ledgers
    from cloudpbx.store import open_store
    from cloudpbx.store.tables import cdrs, ledger_entries, trunk_leases

    store = await open_store(db_url)
    try:
        deadline = time.monotonic() + settle_s
        while True:
            async with store.read() as tx:
                live = (
                    await tx.conn.execute(select(func.count()).where(trunk_leases.c.account_id == account_id))
                ).scalar_one()
                e = ledger_entries.c
                query = select(func.coalesce(func.sum(e.amount), 0), func.count()).where(
                    e.account_id == account_id, e.source == ledgers.PER_MINUTE
                )
                debits, billed = (await tx.conn.execute(query)).one()
                bodies = (await tx.conn.execute(select(cdrs.c.body).where(cdrs.c.account_id == account_id))).scalars()
                cdr_costs = sum(json.loads(body)["custom_channel_vars"].get("per_minute_cost", 0) for body in bodies)
            if (not live and cdr_costs == debits) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        return Books(await ledgers.balance_units(store, account_id), int(debits), int(billed), int(cdr_costs))
    finally:
        await store.dispose()


def run_concurrent(bench: Bench, targets: list[Target], args, results: Results) -> None:
    print(
        f"\n3a. concurrent calls (signalling only), started at {args.ramp_rate}/s, all up for {args.duration:g} s",
        flush=True,
    )
    for target in targets:
        with reported_failure(results, "concurrent calls", target):
            best, capped = measure_concurrent(bench, target, args.concurrent, args.duration, args.ramp_rate)
            results.put("concurrent", target.name, Figure(best, capped))


def run_media(bench: Bench, targets: list[Target], args, results: Results) -> None:
    print(
        f"\n3b. relayed G.711 calls (PCMU, 2 x 50 packets/s each) for {args.duration:g} s per level; "
        "cloudpbx anchors media in its relay, Kamailio through rtpengine (userspace)",
        flush=True,
    )
    generator = Generator(bench.processes, bench.load_cpus)
    for target in targets:
        with reported_failure(results, "relayed calls", target):
            port = free_port("udp")
            bench.register_callee(target, MEDIA_REALM, port)
            record_media(
                target, measure_media(bench, target, generator, port, args.media_calls, args.duration), results
            )


def record_media(target: Target, measured: tuple[int, bool, list[MediaRun]], results: Results) -> None:
    best, capped, runs = measured
    limited = any(run.rate_share < MIN_RATE_SHARE for run in runs)
    results.put("media", target.name, Figure(best, capped, "RTP generator at its limit" if limited else ""))
    top = max(runs, key=lambda run: (run.passed, run.level))
    results.put("media_cpu", target.name, Figure(100 * 100 * top.server_cpu / top.level, digits=1))


def run(args) -> Results:
    server_cpus, load_cpus = cpu_split()
    raise_fd_limit()
    devices = Devices(args.devices, max(args.media_calls))
    results = Results(load_before=os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="cloudpbx-sip-bench-") as tmp:
        workdir = Path(tmp)
        processes = Processes(workdir)
        try:
            bench = Bench(processes, workdir, devices, devices.write_files(workdir), load_cpus)
            db_url = args.db or f"sqlite:///{workdir / 'cloudpbx.db'}"
            print(f"seeding {devices.count + devices.media_count} devices ...", flush=True)
            args.carrier_port = free_port("udp", CARRIER_HOST)
            trunks = int(max(args.offnet_rates) * (SETUP_TALK_S + 5)) + 100  # as many as calls SIPp keeps open
            args.db_url = db_url
            args.signalling = asyncio.run(seed_cloudpbx(workdir, db_url, devices, args.carrier_port, trunks))
            cloudpbx = start_cloudpbx(processes, workdir, db_url, server_cpus)
            kamailio = (
                start_kamailio(processes, workdir, devices, server_cpus, args.kamailio_children, media=False)
                if "kamailio" in args.servers
                else None
            )
            print(
                f"servers on cpus {sorted(server_cpus or [])}, SIPp and the RTP generator on "
                f"{sorted(load_cpus or [])}; cloudpbx SIP {cloudpbx.remote} (pid {cloudpbx.pgids[0]})"
                + (f", Kamailio {kamailio.remote}" if kamailio else ""),
                flush=True,
            )
            targets = [target for target in (cloudpbx, kamailio) if target is not None]
            if "reg" in args.only:
                run_registrations(bench, targets, args, results)
            if set(args.only) & {"calls", "offnet", "perminute", "concurrent", "media"}:
                print("\nchecking that calls complete ...", flush=True)
                targets = [target for target in targets if ready_for_calls(bench, target, results)]
            if "calls" in args.only:
                run_calls(bench, targets, args, results)
            if "offnet" in args.only:
                run_offnet(bench, targets, args, results)
            if "perminute" in args.only:
                run_perminute(bench, targets, args, results)
            if "concurrent" in args.only:
                run_concurrent(bench, targets, args, results)
            if "media" in args.only:
                with_media = (
                    start_kamailio(processes, workdir, devices, server_cpus, args.kamailio_children, media=True)
                    if kamailio
                    else None
                )
                run_media(
                    bench, [t for t in (*targets, with_media) if t is not None and t is not kamailio], args, results
                )
        finally:
            processes.close()
    results.load_after = os.getloadavg()[0]
    return results


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# The report -------------------------------------------------------------------------------------------------------


def ratio(ours: Figure | None, reference: Figure | None) -> str:
    """cloudpbx over Kamailio; a capped figure is a lower bound, so the ratio becomes a bound too."""
    if not ours or not reference or ours.value is None or not reference.value:
        return "n/a"
    value = ours.value / reference.value
    if ours.capped and reference.capped:
        return "n/a"
    return f"{'<= ' if reference.capped else '>= ' if ours.capped else ''}{value:.2f}"


def report(results: Results, args) -> None:
    """The summary: each measure's figures, cloudpbx over Kamailio, and PASS/MISS for those with a goal."""
    rows = [  # key, label, goal, whether cloudpbx meets it, ratio shown
        ("reg", "digest registrations/s", f">= {GOAL_REGS:,}", lambda v: v >= GOAL_REGS, True),
        ("reg_p95", "  p95 registration ms", "", None, False),
        ("reg_cpu", "  server CPU us/registration", "lower=better", None, True),
        ("cps", f"call setups/s, 0 failed, {args.duration:g} s", f">= {GOAL_CPS}", lambda v: v >= GOAL_CPS, True),
        ("cps_p95", "  p95 setup ms at that rate", f"< {GOAL_P95_MS:.0f}", lambda v: v < GOAL_P95_MS, False),
        ("cps_cpu", "  server CPU ms/call", "lower=better", None, True),
        (
            "offnet",
            f"offnet call setups/s, 0 failed, {args.duration:g} s",
            f">= {GOAL_OFFNET_CPS}",
            lambda v: v >= GOAL_OFFNET_CPS,
            False,
        ),
        ("offnet_p95", "  p95 setup ms at that rate", f"< {GOAL_P95_MS:.0f}", lambda v: v < GOAL_P95_MS, False),
        ("offnet_cpu", "  server CPU ms/call", "lower=better", None, False),
        (
            "perminute",
            f"per-minute call setups/s, 0 failed, {args.duration:g} s",
            f">= {GOAL_OFFNET_CPS}",
            lambda v: v >= GOAL_OFFNET_CPS,
            False,
        ),
        ("perminute_p95", "  p95 setup ms at that rate", f"< {GOAL_P95_MS:.0f}", lambda v: v < GOAL_P95_MS, False),
        ("perminute_cpu", "  server CPU ms/call", "lower=better", None, False),
        ("perminute_books", "  debits == CDR costs == balance moved", "1 = exact", lambda v: v == 1, False),
        (
            "concurrent",
            f"concurrent calls held {args.duration:g} s",
            f">= {GOAL_CONCURRENT:,}",
            lambda v: v >= GOAL_CONCURRENT,
            True,
        ),
        ("media", "relayed G.711 calls, <0.1% loss", f">= {GOAL_MEDIA_CALLS}", lambda v: v >= GOAL_MEDIA_CALLS, True),
        ("media_cpu", "  server CPU %/100 relayed calls", "lower=better", None, True),
    ]
    print(f"\n{'measure':<36}{'cloudpbx':>12}{'kamailio':>12}{'ratio':>10}   {'goal':<13}verdict")
    for key, label, goal, met, with_ratio in rows:
        figures = results.figures.get(key)
        if figures is None:
            continue
        ours, reference = figures.get("cloudpbx"), figures.get("kamailio")
        verdict = ""
        if met and ours:
            verdict = "PASS" if ours.value is not None and met(ours.value) else "MISS"
        notes = "; ".join(f"{name}: {figure.note}" for name, figure in figures.items() if figure.note)
        print(
            f"{label:<36}{ours.text() if ours else 'n/a':>12}{reference.text() if reference else 'n/a':>12}"
            f"{ratio(ours, reference) if with_ratio else '':>10}   {goal:<13}{verdict}"
            f"{'  (' + notes + ')' if notes else ''}"
        )
    offnet_ratios(results)
    for note in results.notes:
        print(f"note: {note}")
    print(
        f"1-minute load average {results.load_before:.2f} before the run, {results.load_after:.2f} at its end "
        f"(the bench itself keeps about two cores busy; anything else running skews the figures)"
    )
    print(">= marks a lower bound: every step offered passed, or the load generator ran out of CPU first.")


def offnet_ratios(results: Results) -> None:
    """cloudpbx's offnet figures over its on-net ones of the same run: what the carrier path costs."""
    pairs = [("rate held", "offnet", "cps"), ("server CPU per call", "offnet_cpu", "cps_cpu")]
    pairs.append(("p95 setup", "offnet_p95", "cps_p95"))
    shown = []
    for label, offnet, onnet in pairs:
        ours = results.figures.get(offnet, {}).get("cloudpbx")
        reference = results.figures.get(onnet, {}).get("cloudpbx")
        shown.append(f"{label} {ratio(ours, reference)}")
    if "offnet" in results.figures:
        print(f"cloudpbx offnet / on-net in this run: {', '.join(shown)}")


def parse_levels(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="short runs: 10 s holds, 2 s probes, 5 s of registrations (unless given)"
    )
    parser.add_argument(
        "--duration",
        type=float,
        help="seconds each call rate, concurrent level and media level is held (default 60; 10 with --quick)",
    )
    parser.add_argument("--probe-seconds", type=float, help="seconds per call rate step (default 10; 2 with --quick)")
    parser.add_argument("--reg-seconds", type=float, help="seconds of registrations (default 20; 5 with --quick)")
    parser.add_argument("--devices", type=int, default=10_000, help="devices registering and calling (default 10000)")
    parser.add_argument("--rates", type=parse_levels, default=RATES, help=f"call rates to step through ({RATES})")
    parser.add_argument(
        "--offnet-rates",
        type=parse_levels,
        default=OFFNET_RATES,
        help=f"offnet call rates to step through ({OFFNET_RATES})",
    )
    parser.add_argument(
        "--concurrent",
        type=parse_levels,
        default=CONCURRENT_LEVELS,
        help=f"concurrent call levels ({CONCURRENT_LEVELS})",
    )
    parser.add_argument(
        "--ramp-rate",
        type=int,
        default=RAMP_RATE,
        help=f"calls/s while filling up concurrent calls (default {RAMP_RATE})",
    )
    parser.add_argument(
        "--media-calls", type=parse_levels, default=MEDIA_LEVELS, help=f"relayed call levels ({MEDIA_LEVELS})"
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        default=list(TESTS),
        help=f"comma-separated subset of {','.join(TESTS)}",
    )
    parser.add_argument(
        "--servers",
        type=lambda text: text.split(","),
        default=list(SERVERS),
        help="comma-separated subset of cloudpbx,kamailio (cloudpbx always starts)",
    )
    parser.add_argument("--kamailio-children", type=int, default=4, help="Kamailio UDP and TCP workers (default 4)")
    parser.add_argument("--db", help="cloudpbx database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.generator:
        raise_fd_limit()
        import uvloop

        uvloop.run(generate())
        return
    unknown = set(args.only) - set(TESTS)
    if unknown:
        parser.error(f"unknown tests: {', '.join(sorted(unknown))}")
    if set(args.servers) - set(SERVERS):
        parser.error(f"unknown servers: {', '.join(sorted(set(args.servers) - set(SERVERS)))}")
    wanted = ("kamailio", *(("rtpengine",) if "media" in args.only else ())) if "kamailio" in args.servers else ()
    for name in ("sipp", *wanted):
        if not shutil.which(name):
            parser.error(f"{name} is not installed (see bench/README.md)")
    args.duration = args.duration or (10.0 if args.quick else 60.0)
    args.probe_seconds = args.probe_seconds or (2.0 if args.quick else 10.0)
    args.reg_seconds = args.reg_seconds or (5.0 if args.quick else 20.0)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the processes started get ended on the way out
    report(run(args), args)


if __name__ == "__main__":
    main()
