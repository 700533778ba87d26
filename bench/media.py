"""Media relay benchmark: how many concurrent relayed G.711 calls the relay forwards with <0.1% loss.

Run with the project's interpreter: `.venv/bin/python bench/media.py [--seconds N] [--calls 100,200,...]`.
This process runs the real `MediaRelay` under uvloop, pinned to one core. A load generator in a separate
process, pinned to another core, plays both phones of every call: each phone sends 50 packets/s of 172 bytes
(PCMU, 20 ms) to the relay and counts what arrives from the other phone. For each number of calls it prints
the loss, the relay's CPU use and the transit time through the relay, then the largest number of calls with
<0.1% loss, and PASS/MISS against the goal of 300 calls.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from cloudpbx.media.codecs import CodecPolicy  # noqa: E402
from cloudpbx.media.relay import MediaRelay  # noqa: E402
from rtp_load import HOST, PTIME_S, Phone, bind, phone_port, play  # noqa: E402

GOAL_CALLS = 300
GOAL_LOSS = 0.001
MIN_RATE_SHARE = 0.95
CALL_LEVELS = "100,200,300,400,500,600,800"


def pin(cpu: int | None) -> None:
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {cpu})


def cpus() -> tuple[int | None, int | None]:
    """(relay cpu, generator cpu): different cores when there are two."""
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    available = sorted(os.sched_getaffinity(0))
    return (available[0], available[-1]) if len(available) > 1 else (None, None)


def raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def phone_sdp(port: int) -> str:
    return (
        f"v=0\r\no=bench {port} 1 IN IP4 {HOST}\r\ns=-\r\nc=IN IP4 {HOST}\r\nt=0 0\r\n"
        f"m=audio {port} RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=sendrecv\r\n"
    )


def media_port(sdp: bytes) -> int:
    line = next(line for line in sdp.decode().splitlines() if line.startswith("m=audio "))
    return int(line.split()[1])


# The load generator (a separate process) --------------------------------------------------------------------------


async def generate() -> None:
    """Serve the relay process's commands, one JSON line each, on stdin; answer on stdout."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    phones: list[Phone] = []
    delays: list[int] = []
    while line := await reader.readline():
        command = json.loads(line)
        if command["cmd"] == "bind":
            for phone in phones:
                phone.transport.close()
            phones = await bind(2 * command["calls"], delays)
            reply = {"ports": [phone_port(phone) for phone in phones]}
        else:
            reply = await play(list(zip(phones, command["targets"], strict=True)), phones, command["seconds"], delays)
        print(json.dumps(reply), flush=True)


# The relay side (this process) ------------------------------------------------------------------------------------


class Generator:
    """The load generator process and its command line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, cpu: int | None) -> Generator:
        args = [sys.executable, __file__, "--generator"] + (["--cpu", str(cpu)] if cpu is not None else [])
        process = await asyncio.create_subprocess_exec(
            *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        return cls(process)

    async def ask(self, **command) -> dict:
        self.process.stdin.write(json.dumps(command).encode() + b"\n")
        await self.process.stdin.drain()
        line = await self.process.stdout.readline()
        if not line:
            raise RuntimeError("the load generator exited")
        return json.loads(line)

    async def stop(self) -> None:
        self.process.stdin.close()
        await self.process.wait()


async def measure(relay: MediaRelay, generator: Generator, calls: int, seconds: float) -> dict:
    """One level: `calls` relayed calls for `seconds`."""
    ports = (await generator.ask(cmd="bind", calls=calls))["ports"]
    targets = [0] * len(ports)
    sessions = []
    pcmu = CodecPolicy(("PCMU",))
    for call in range(calls):
        a, b = 2 * call, 2 * call + 1
        session = relay.open(f"bench-{calls}-{call}")
        targets[b] = media_port(await session.offer_for_b(phone_sdp(ports[a]), pcmu, pcmu))
        targets[a] = media_port(await session.answer_for_a(phone_sdp(ports[b])))
        sessions.append(session)
    cpu_before, wall_before = time.process_time(), time.monotonic()
    result = await generator.ask(cmd="play", targets=targets, seconds=seconds)
    result["relay_cpu"] = (time.process_time() - cpu_before) / (time.monotonic() - wall_before)
    result["relay_lost_in"] = sum(s.stats()[leg].rtp_lost for s in sessions for leg in ("a", "b"))
    for session in sessions:
        session.close()
    await asyncio.sleep(0.1)
    result["calls"] = calls
    result["loss"] = 1 - result["received"] / result["sent"] if result["sent"] else 1.0
    result["rate"] = result["sent"] / result["duration"]
    result["rate_share"] = result["rate"] / (2 * calls / PTIME_S)
    return result


def show(result: dict) -> None:
    print(
        f"{result['calls']:>5} calls  {result['rate']:>7.0f} pkt/s in ({result['rate_share'] * 100:3.0f}% of nominal)  "
        f"loss {result['loss'] * 100:6.3f}%  relay CPU {result['relay_cpu'] * 100:5.1f}%  "
        f"transit p50 {result['delay_p50_ms'] or 0:7.2f} ms p99 {result['delay_p99_ms'] or 0:7.2f} ms  "
        f"generator CPU {result['cpu_s'] / result['duration'] * 100:5.1f}%",
        flush=True,
    )


async def run(levels: list[int], seconds: float, relay_cpu: int | None, generator_cpu: int | None) -> None:
    pin(relay_cpu)
    relay = MediaRelay(HOST, inactivity_timeout=None)
    generator = await Generator.start(generator_cpu)
    print(
        f"relay on cpu {relay_cpu}, load generator on cpu {generator_cpu}; {seconds:g} s per level; "
        f"each call = 2 streams of 50 packets/s",
        flush=True,
    )
    results = []
    try:
        for calls in levels:
            result = await measure(relay, generator, calls, seconds)
            show(result)
            results.append(result)
            if result["loss"] >= 10 * GOAL_LOSS:
                break
    finally:
        await generator.stop()
        await relay.close()
    report(results)


def report(results: list[dict]) -> None:
    """A level counts when its loss is under the goal and the generator kept 95% of the nominal rate."""
    clean = [r for r in results if r["loss"] < GOAL_LOSS and r["rate_share"] >= MIN_RATE_SHARE]
    best = max((r["calls"] for r in clean), default=0)
    print(
        f"\nlargest level with <{GOAL_LOSS * 100:g}% loss at full rate: {best} concurrent calls "
        f"({best * 2} streams, {best * 100} packets/s into the relay and as many out)"
    )
    if clean:
        top = max(clean, key=lambda r: r["calls"])
        per_call = top["relay_cpu"] / top["calls"]
        print(
            f"relay CPU per call at that level: {per_call * 100:.3f}% of a core "
            f"(about {int(0.8 / per_call)} calls would fill 80% of one core)"
        )
    verdict = "PASS" if best >= GOAL_CALLS else "MISS"
    print(f"{verdict}: goal {GOAL_CALLS} concurrent relayed G.711 calls with <{GOAL_LOSS * 100:g}% loss")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each level (default 10)")
    parser.add_argument("--calls", default=CALL_LEVELS, help=f"comma-separated levels (default {CALL_LEVELS})")
    parser.add_argument("--generator", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cpu", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_fd_limit()
    import uvloop

    if args.generator:
        pin(args.cpu)
        uvloop.run(generate())
        return
    relay_cpu, generator_cpu = cpus()
    uvloop.run(run([int(n) for n in args.calls.split(",")], args.seconds, relay_cpu, generator_cpu))


if __name__ == "__main__":
    main()
