"""`buzzline bench e2e`: press-to-lockout and press-to-decision through a real Mosquitto.

The host runs as its own process (``buzzline host``), driven over the operator API; the
simulated podiums speak the real protocol (lock acknowledgements and heartbeats included).
Per press: ``lockout_ms`` from the buzz publish to the last podium receiving its lock, and
``decided_ms`` from the buzz publish to the winner's podium receiving the winner light.
``broker_rtt_ms`` is a plain publish-to-subscriber round trip through the same broker, in the
same run: the floor to compare against.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from typing import Any

from buzzline.benchmarks._stats import p50_p99

NAME = "e2e"
HELP = "end-to-end latency of lockout and decision through a real broker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=16)
    p.add_argument("--presses", type=int, default=500)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="processes the simulated podiums are spread over")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log", dest="log_path", default=None, help="host event log (default: a temp file)")
    p.add_argument("--profile-host", metavar="FILE", help="run the host under cProfile, stats to FILE")


def now_us() -> int:
    return time.monotonic_ns() // 1000


async def _broker_rtt(host: str, port: int, n: int, rng: random.Random) -> list[float]:
    """Publish to subscriber through the broker, QoS 1, with TCP_NODELAY like our clients.

    Probes are spaced like the presses (idle gaps of 5-30 ms): on this machine a process woken
    from idle answers later than one kept busy, and the floor must be taken in the same regime.
    """
    import aiomqtt

    from buzzline.io.broker import NODELAY

    out: list[float] = []
    async with (
        aiomqtt.Client(host, port, identifier="rtt-sub", socket_options=NODELAY) as sub,
        aiomqtt.Client(host, port, identifier="rtt-pub", socket_options=NODELAY) as pub,
    ):
        await sub.subscribe("bench/rtt", qos=1)
        await asyncio.sleep(0.1)
        it = sub.messages.__aiter__()
        for i in range(n):
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            t0 = now_us()
            await pub.publish("bench/rtt", str(i).encode(), qos=1)
            async with asyncio.timeout(2):
                while True:
                    m = await it.__anext__()
                    if m.payload == str(i).encode():
                        break
            out.append((now_us() - t0) / 1000)
    return out


class _Workers:
    """The podium worker processes, and what they report (see `_podium_worker`)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.owner: dict[str, asyncio.subprocess.Process] = {}
        self.events: asyncio.Queue[list[str]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, host: str, port: int, studio: str, pids: list[str], n: int, seed: int) -> None:
        for k in range(n):
            mine = pids[k::n]
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "buzzline.benchmarks._podium_worker",
                "--host", host, "--port", str(port), "--studio", studio,
                "--podiums", ",".join(mine), "--seed", str(seed + k),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            self.procs.append(proc)
            for pid in mine:
                self.owner[pid] = proc
            self._readers.append(asyncio.create_task(self._read(proc)))
        ready = 0
        async with asyncio.timeout(30):
            while ready < n:
                if (await self.events.get())[0] == "ready":
                    ready += 1

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            await self.events.put(line.decode().split())

    def press(self, pid: str) -> None:
        stdin = self.owner[pid].stdin
        assert stdin is not None
        stdin.write(f"press {pid}\n".encode())

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.write(b"quit\n")
        for proc in self.procs:
            try:
                async with asyncio.timeout(5):
                    await proc.wait()
            except TimeoutError:
                proc.kill()
        for t in self._readers:
            t.cancel()


async def _run(args: argparse.Namespace, host: str, port: int, api: str, token: str) -> dict[str, Any]:
    import httpx

    rng = random.Random(args.seed)
    studio = "bench"
    pids = [f"b{i + 1:02d}" for i in range(args.podiums)]
    rtt = await _broker_rtt(host, port, 300, random.Random(args.seed + 1))
    workers = _Workers()
    await workers.start(host, port, studio, pids, min(args.workers, len(pids)), args.seed)
    lockout: list[float] = []
    decided: list[float] = []
    first_lock: list[float] = []
    lost = 0
    try:
        async with httpx.AsyncClient(
            base_url=api, headers={"authorization": f"Bearer {token}"}, timeout=10
        ) as http:
            async with asyncio.timeout(30):  # until the host knows every podium with a trusted clock
                while True:
                    st = (await http.get("/api/state")).json()
                    ok = {q["podium"] for q in st["podiums"] if q["online"] and q["clock_trusted"]}
                    if ok >= set(pids):
                        break
                    await asyncio.sleep(0.1)

            async def cmd(name: str, **a: Any) -> None:
                await http.post("/api/command", json={"name": name, "args": a})

            async def collect(until: Any, timeout: float) -> bool:
                try:
                    async with asyncio.timeout(timeout):
                        while not until(await workers.events.get()):
                            pass
                    return True
                except TimeoutError:
                    return False

            for _ in range(args.presses):
                while not workers.events.empty():
                    workers.events.get_nowait()
                await cmd("read")
                armed: set[str] = set()
                await cmd("arm")

                def is_armed(ev: list[str], armed: set[str] = armed) -> bool:
                    if ev[0] == "light" and ev[2] == "armed":
                        armed.add(ev[1])
                    return armed >= set(pids)

                if not await collect(is_armed, 5):
                    lost += 1
                    await cmd("next")
                    continue
                presser = rng.choice(pids)
                await asyncio.sleep(rng.uniform(0.005, 0.03))
                workers.press(presser)
                t0: list[int] = []
                locks: dict[str, int] = {}
                won: list[int] = []

                def done(
                    ev: list[str],
                    t0: list[int] = t0,
                    locks: dict[str, int] = locks,
                    won: list[int] = won,
                    presser: str = presser,
                ) -> bool:
                    if ev[0] == "press":
                        t0.append(int(ev[2]))
                    elif ev[0] == "lock":
                        locks.setdefault(ev[1], int(ev[3]))
                    elif ev[0] == "light" and ev[1] == presser and ev[2] == "winner":
                        won.append(int(ev[3]))
                    return bool(t0 and won) and len(locks) == len(pids)

                if await collect(done, 3):
                    lockout.append((max(locks.values()) - t0[0]) / 1000)
                    first_lock.append((min(locks.values()) - t0[0]) / 1000)
                    decided.append((won[0] - t0[0]) / 1000)
                else:
                    lost += 1
                await cmd("judge", correct=True)
                await cmd("next")
    finally:
        await workers.stop()
    return {
        "podiums": args.podiums,
        "presses": args.presses,
        "lockout_ms": p50_p99(lockout),
        "decided_ms": p50_p99(decided),
        "broker_rtt_ms": p50_p99(rtt),
        "lost": lost,
        "first_podium_lock_ms": p50_p99(first_lock),
    }


def run(args: argparse.Namespace) -> int:
    import tempfile

    from buzzline.commands.host import command_line
    from buzzline.io.broker import MosquittoBroker, free_port

    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        api_port = free_port()
        token = "bench-" + os.urandom(4).hex()
        log_path = args.log_path or os.path.join(tmp, "bench.db")
        prof = ["-m", "cProfile", "-o", args.profile_host] if args.profile_host else []
        host = subprocess.Popen(
            command_line(broker.address, "bench", http=api_port, token=token, log=log_path, python_args=prof),
            stdout=subprocess.DEVNULL,
        )
        try:
            from buzzline.io.broker import wait_for_port

            wait_for_port("127.0.0.1", api_port, timeout=20)
            result = asyncio.run(_run(args, broker.host, broker.port, f"http://127.0.0.1:{api_port}", token))
        finally:
            host.send_signal(signal.SIGINT)  # a clean exit, so a profile gets written
            try:
                host.wait(10)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait(5)
    if args.json:
        print(json.dumps(result))
    else:
        print(f"e2e: {result['podiums']} podiums, {result['presses']} presses, lost {result['lost']}")
        for k in ("lockout_ms", "decided_ms", "broker_rtt_ms"):
            print(f"  {k:14s} p50 {result[k]['p50']:8.3f}   p99 {result[k]['p99']:8.3f}")
    return 0 if result["lost"] == 0 else 1
