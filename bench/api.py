"""API benchmark: a real `cloudpbx serve` against a bare ASGI server under the same uvicorn settings.

Run with the project's interpreter: `.venv/bin/python bench/api.py [--seconds N] [--db URL]`.
It measures authenticated device GETs and user PUTs against the real server, the same GET bytes from a bare
server (the ceiling of uvicorn on this machine), and how device listings grow with 100, 1,000 and 10,000
devices, including the number of SQL statements one listing runs. It prints figures and PASS/MISS per goal.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from hashlib import md5
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

ADMIN_PASSWORD = "bench-admin-pass-1"
CLIENTS = 8
GET_ROUNDS = 2  # the GETs alternate between the servers; each server's best round counts
LISTING_SIZES = (100, 1_000, 10_000)
GOAL_RATIO = 0.40
GOAL_P99_MS = 20.0
GOAL_GROWTH = 1.25  # per-device listing time at 10k over that at 100; 1 is linear, less is better


# Processes: the load generator gets a core of its own ---------------------------------------------------------------


def cpu_split() -> tuple[set[int] | None, set[int] | None]:
    """(server cpus, load generator cpus): the last core for the load generator, the others for the servers."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return set(cpus[:-1]), {cpus[-1]}


def pinned(cpus: set[int] | None):
    return (lambda: os.sched_setaffinity(0, cpus)) if cpus else None


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time a process has used (Linux), to report CPU per request."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_listening(proc: subprocess.Popen, url: str) -> None:
    deadline = time.time() + 30
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {proc.stdout.read() if proc.stdout else ''}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in time")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# The servers -------------------------------------------------------------------------------------------------------


def start_real(
    data_dir: Path, db_url: str, cpus: set[int] | None, count_sql: bool = False
) -> tuple[subprocess.Popen, str]:
    """`cloudpbx serve`; with `count_sql` it reports each request's SQL statements in x-sql-statements."""
    port = free_port()
    env = dict(
        os.environ,
        CLOUDPBX_RATE_LIMIT="100000000/100000000",
        CLOUDPBX_ADMIN_PASSWORD=ADMIN_PASSWORD,
        CLOUDPBX_COUNT_SQL="1" if count_sql else "0",
        PYTHONPATH=str(ROOT / "src"),
    )
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudpbx",
            "serve",
            "--data-dir",
            str(data_dir),
            "--db",
            db_url,
            "--http",
            f"127.0.0.1:{port}",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=pinned(cpus),
    )
    base = f"http://127.0.0.1:{port}/v2"
    wait_listening(proc, f"{base}/about")
    return proc, base


def start_bare(reply_file: Path, cpus: set[int] | None) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--bare", str(port), str(reply_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=pinned(cpus),
    )
    url = f"http://127.0.0.1:{port}/v2/bare"
    wait_listening(proc, url)
    return proc, url


def serve_bare(port: int, reply_file: Path) -> None:
    """The ceiling: an ASGI app that answers every request with the recorded bytes, no routing, no work."""
    import uvicorn

    recorded = json.loads(reply_file.read_text())
    headers = [(k.encode(), v.encode()) for k, v in recorded["headers"]]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    message = {"type": "http.response.body", "body": recorded["body"].encode()}

    async def app(scope, receive, send):
        if scope["type"] == "http":
            await send(start)
            await send(message)

    # The settings of `cloudpbx serve` (cli/main.py).
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        loop="uvloop",
        http="httptools",
        log_level="warning",
        access_log=False,
        lifespan="off",
    )
    uvicorn.Server(config).run()


def record_reply(response: httpx.Response, path: Path) -> None:
    """Keep the real GET's body and headers (less those uvicorn adds itself) for the bare server."""
    headers = [(k, v) for k, v in response.headers.items() if k not in ("date", "server")]
    path.write_text(json.dumps({"body": response.text, "headers": headers}))


# Data ---------------------------------------------------------------------------------------------------------------


async def seed_listings(data_dir: Path, db_url: str) -> dict[int, str]:
    """Accounts holding 100, 1,000 and 10,000 devices, written through the store before the server starts."""
    from cloudpbx.accounts.documents import checked
    from cloudpbx.accounts.kinds import DEVICE
    from cloudpbx.cli.bootstrap import ensure_master
    from cloudpbx.config import Settings
    from cloudpbx.platform import Platform
    from cloudpbx.store import new_id

    platform = await Platform.open(Settings(data_dir=data_dir, db_url=db_url))
    try:
        await ensure_master(platform, ADMIN_PASSWORD)
        master_id = await platform.accounts.master_id()
        template = checked(DEVICE, {"name": "Desk", "device_type": "sip_device"})
        accounts = {}
        for size in LISTING_SIZES:
            account = await platform.accounts.create(master_id, {"name": f"Bench list {size} {secrets.token_hex(3)}"})
            accounts[size] = account["_id"]
            async with platform.store.write() as tx:
                for i in range(size):
                    doc = dict(
                        template,
                        name=f"Desk {i}",
                        sip={"username": f"dev{i}", "password": "secret-pw"},
                        _id=new_id(),
                        pvt_type=DEVICE.type,
                        pvt_account_id=account["_id"],
                        pvt_vsn="1",
                    )
                    await tx.save(doc, DEVICE.keys(account["_id"], doc))
        return accounts
    finally:
        await platform.close()


def login(base: str) -> tuple[str, str]:
    """(auth token, account id) of the master admin."""
    credentials = md5(f"admin:{ADMIN_PASSWORD}".encode()).hexdigest()
    resp = httpx.put(f"{base}/user_auth", json={"data": {"credentials": credentials, "account_name": "Master Account"}})
    resp.raise_for_status()
    body = resp.json()
    return body["auth_token"], body["data"]["account_id"]


def build_tenant(http: httpx.Client, base: str, parent_id: str) -> tuple[str, str]:
    """(account id, device id): a sub-account with a user and the user's device."""

    def put(path: str, data: dict) -> dict:
        resp = http.put(f"{base}/{path}", json={"data": data})
        resp.raise_for_status()
        return resp.json()["data"]

    account = put(f"accounts/{parent_id}", {"name": f"Bench {secrets.token_hex(4)}"})
    user = put(f"accounts/{account['id']}/users", {"first_name": "Bench", "last_name": "Owner", "username": "owner"})
    device = put(
        f"accounts/{account['id']}/devices",
        {"name": "Bench desk", "owner_id": user["id"], "sip": {"username": "bench100", "password": "secret-pw"}},
    )
    return account["id"], device["id"]


# Load ---------------------------------------------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    url: str
    method: str
    pid: int


@dataclass
class Load:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    failed: int
    cpu_us: float | None = None  # server CPU per request

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_DONE = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('\\nRESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"failed":%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""

WRK_PUT = """
local n = 0
local prefix = ""
function init(args) prefix = args[1] end
request = function()
  n = n + 1
  local body = string.format('{"data":{"first_name":"Bench","last_name":"User %d","username":"%s-%d"}}', n, prefix, n)
  return wrk.format("PUT", nil, nil, body)
end
"""


def wrk_load(target: Target, token: str, seconds: float, cpus, workdir: Path) -> Load:
    script = workdir / f"{target.method.lower()}.lua"
    script.write_text((WRK_PUT if target.method == "PUT" else "") + WRK_DONE)
    cmd = [
        "wrk",
        "-t1",
        f"-c{CLIENTS}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "10s",
        "-s",
        str(script),
        "-H",
        "Content-Type: application/json",
        "-H",
        f"X-Auth-Token: {token}",
        target.url,
        "--",
        f"u{secrets.token_hex(4)}",
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, preexec_fn=pinned(cpus)).stdout
    found = json.loads(re.search(r"^RESULT (.*)$", out, re.M).group(1))
    return Load(
        found["requests"], found["duration_us"] / 1e6, found["p50_us"] / 1000, found["p99_us"] / 1000, found["failed"]
    )


def python_load(target: Target, token: str, seconds: float, cpus, workdir: Path) -> Load:
    """Without wrk: this script's asyncio raw-socket client, in a process of its own."""
    spec = json.dumps({"url": target.url, "method": target.method, "token": token, "seconds": seconds})
    out = subprocess.run(
        [sys.executable, __file__, "--load", spec], capture_output=True, text=True, check=True, preexec_fn=pinned(cpus)
    ).stdout
    found = json.loads(out)
    return Load(found["requests"], found["seconds"], found["p50_ms"], found["p99_ms"], found["failed"])


def raw_request(url: str, method: str, token: str, serial: int, prefix: str) -> bytes:
    parsed = httpx.URL(url)
    body = b""
    if method == "PUT":
        body = json.dumps(
            {"data": {"first_name": "Bench", "last_name": f"User {serial}", "username": f"{prefix}-{serial}"}}
        ).encode()
    head = [
        f"{method} {parsed.raw_path.decode()} HTTP/1.1",
        f"Host: {parsed.host}:{parsed.port}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        f"X-Auth-Token: {token}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


async def raw_client(spec: dict, deadline: float, serials, prefix: str, latencies: list, failures: list) -> None:
    """One keep-alive connection sending requests back to back until the deadline."""
    parsed = httpx.URL(spec["url"])
    reader, writer = await asyncio.open_connection(parsed.host, parsed.port)
    static = raw_request(spec["url"], "GET", spec["token"], 0, prefix) if spec["method"] == "GET" else None
    while time.perf_counter() < deadline:
        request = static or raw_request(spec["url"], spec["method"], spec["token"], next(serials), prefix)
        started = time.perf_counter()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
        await reader.readexactly(int(length.group(1)) if length else 0)
        latencies.append(time.perf_counter() - started)
        if head[9:10] not in (b"2", b"3"):
            failures.append(1)
    writer.close()


def run_python_load(spec: dict) -> None:
    async def main() -> None:
        latencies: list[float] = []
        failures: list[int] = []
        serials, prefix = itertools.count(1), f"u{secrets.token_hex(4)}"
        started = time.perf_counter()
        deadline = started + spec["seconds"]
        await asyncio.gather(
            *(raw_client(spec, deadline, serials, prefix, latencies, failures) for _ in range(CLIENTS))
        )
        elapsed = time.perf_counter() - started
        latencies.sort()
        print(
            json.dumps(
                {
                    "requests": len(latencies),
                    "seconds": elapsed,
                    "failed": len(failures),
                    "p50_ms": 1000 * latencies[len(latencies) // 2],
                    "p99_ms": 1000 * latencies[int(len(latencies) * 0.99)],
                }
            )
        )

    try:
        import uvloop

        uvloop.run(main())
    except ImportError:
        asyncio.run(main())


def measure(targets: dict[str, Target], token: str, seconds: float, rounds: int, cpus, workdir: Path) -> dict:
    """Load each target in turn for `rounds` rounds of `seconds`; keep each one's best round.

    Other processes on the machine can only slow a round down, so the best round is the least disturbed one,
    and alternating the targets exposes them to the same conditions.
    """
    generate = wrk_load if shutil.which("wrk") else python_load
    best: dict[str, Load] = {}
    for target in targets.values():
        generate(target, token, 1, cpus, workdir)  # warm-up
    for _ in range(rounds):
        for key, target in targets.items():
            print(f"load: {target.name} ({seconds:g} s) ...", flush=True)
            before = cpu_seconds(target.pid)
            load = generate(target, token, seconds, cpus, workdir)
            after = cpu_seconds(target.pid)
            if before is not None and after is not None and load.requests:
                load.cpu_us = 1e6 * (after - before) / load.requests
            if key not in best or load.rps > best[key].rps:
                best[key] = load
    return best


# Listings -----------------------------------------------------------------------------------------------------------


@dataclass
class Listing:
    size: int
    ms: float
    statements: str

    @property
    def per_device_us(self) -> float:
        return 1000 * self.ms / self.size


def time_listing(http: httpx.Client, base: str, account_id: str, size: int) -> Listing:
    """The median time of whole listings (`paginate=false`), and the SQL statements one of them ran."""
    url = f"{base}/accounts/{account_id}/devices?paginate=false"
    first = http.get(url)
    first.raise_for_status()
    if len(first.json()["data"]) != size:
        raise RuntimeError(f"the listing of {size} devices returned {len(first.json()['data'])}")
    runs = []
    for _ in range(max(3, 20_000 // size)):
        started = time.perf_counter()
        resp = http.get(url)
        runs.append(time.perf_counter() - started)
    return Listing(size, 1000 * statistics.median(runs), resp.headers.get("x-sql-statements", "n/a"))


# Report -------------------------------------------------------------------------------------------------------------

NAMES = {"bare": "GET bare server", "get": "GET device (real)", "put": "PUT user (real)"}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(loads: dict[str, Load], listings: list[Listing], seconds: float) -> None:
    generator = "wrk" if shutil.which("wrk") else "python asyncio raw sockets"
    print(
        f"\nload: {CLIENTS} keep-alive clients, generator {generator} on its own core; GETs best of {GET_ROUNDS} "
        f"alternating rounds of {seconds / GET_ROUNDS:g} s, PUT one round of {seconds:g} s"
    )
    print(f"{'target':<22}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'failed':>8}{'server CPU us/req':>19}")
    for key, load in loads.items():
        cpu = f"{load.cpu_us:.0f}" if load.cpu_us is not None else "n/a"
        print(f"{NAMES[key]:<22}{load.rps:>9.0f}{load.p50_ms:>9.2f}{load.p99_ms:>9.2f}{load.failed:>8}{cpu:>19}")
    print(f"\n{'devices listed':<16}{'ms/listing':>12}{'us/device':>12}{'SQL statements':>16}")
    for listing in listings:
        print(f"{listing.size:<16}{listing.ms:>12.2f}{listing.per_device_us:>12.2f}{listing.statements:>16}")

    get, bare = loads["get"], loads["bare"]
    ratio = get.rps / bare.rps if bare.rps else 0.0
    growth = listings[-1].per_device_us / listings[0].per_device_us
    counts = {listing.statements for listing in listings}
    constant = len(counts) == 1 and "n/a" not in counts
    failed = sum(load.failed for load in loads.values())
    print("\nsummary")
    print(f"  GET/bare ratio          {ratio:8.2f}   goal >= {GOAL_RATIO:.2f}      {verdict(ratio >= GOAL_RATIO)}")
    p99_verdict = verdict(get.p99_ms < GOAL_P99_MS)
    print(f"  GET p99 ms              {get.p99_ms:8.2f}   goal < {GOAL_P99_MS:.0f}        {p99_verdict}")
    print(f"  PUT p99 ms              {loads['put'].p99_ms:8.2f}   (no goal)")
    print(f"  listing growth 10k/100  {growth:8.2f}   goal <= {GOAL_GROWTH:.2f}      {verdict(growth <= GOAL_GROWTH)}")
    print(f"  SQL per listing         {'/'.join(sorted(counts)):>8}   goal: constant   {verdict(constant)}")
    print(f"  failed requests         {failed:8d}   goal: 0          {verdict(failed == 0)}")


def run(seconds: float, db_url: str | None) -> None:
    server_cpus, load_cpus = cpu_split()
    with tempfile.TemporaryDirectory(prefix="cloudpbx-bench-") as tmp:
        workdir = Path(tmp)
        url = db_url or f"sqlite:///{workdir / 'cloudpbx.db'}"
        print(f"seeding {sum(LISTING_SIZES)} devices for the listings ...", flush=True)
        listing_accounts = asyncio.run(seed_listings(workdir, url))
        real, base = start_real(workdir, url, server_cpus)
        bare = None
        try:
            token, master_id = login(base)
            http = httpx.Client(headers={"x-auth-token": token}, timeout=60)
            account_id, device_id = build_tenant(http, base, master_id)
            device_url = f"{base}/accounts/{account_id}/devices/{device_id}"
            sample = http.get(device_url)
            sample.raise_for_status()
            record_reply(sample, workdir / "reply.json")
            bare, bare_url = start_bare(workdir / "reply.json", server_cpus)
            gets = {
                "bare": Target(NAMES["bare"], bare_url, "GET", bare.pid),
                "get": Target(NAMES["get"], device_url, "GET", real.pid),
            }
            loads = measure(gets, token, seconds / GET_ROUNDS, GET_ROUNDS, load_cpus, workdir)
            put = Target(NAMES["put"], f"{base}/accounts/{account_id}/users", "PUT", real.pid)
            loads |= measure({"put": put}, token, seconds, 1, load_cpus, workdir)
        finally:
            stop(real)
            if bare:
                stop(bare)
        print("timing listings on a server that counts SQL statements ...", flush=True)
        counting, base = start_real(workdir, url, server_cpus, count_sql=True)
        try:
            http = httpx.Client(headers={"x-auth-token": login(base)[0]}, timeout=60)
            listings = [time_listing(http, base, listing_accounts[size], size) for size in LISTING_SIZES]
        finally:
            stop(counting)
    report(loads, listings, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="load time per target (default 10)")
    parser.add_argument("--db", help="database URL (default: SQLite in a temporary folder)")
    parser.add_argument("--bare", nargs=2, metavar=("PORT", "REPLY"), help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare:
        serve_bare(int(args.bare[0]), Path(args.bare[1]))
    elif args.load:
        run_python_load(json.loads(args.load))
    else:
        run(args.seconds, args.db)


if __name__ == "__main__":
    main()
