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
import contextlib
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

    from buzzline.host_service import NODELAY

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


async def _run(args: argparse.Namespace, host: str, port: int, api: str, token: str) -> dict[str, Any]:
    import httpx

    from buzzline.sim.podium import VirtualPodium

    rng = random.Random(args.seed)
    studio = "bench"
    lock_at: dict[str, int] = {}
    light_at: dict[str, tuple[str, int]] = {}
    current_ep = [-1]

    def on_command(p: VirtualPodium, msg: dict[str, Any], t: int) -> None:
        if msg["t"] == "lock" and msg["ep"] >= current_ep[0] and p.pid not in lock_at:
            lock_at[p.pid] = t
        elif msg["t"] == "light":
            light_at[p.pid] = (msg["pat"], t)

    rtt = await _broker_rtt(host, port, 300, random.Random(args.seed + 1))
    async with contextlib.AsyncExitStack() as stack:
        http = await stack.enter_async_context(
            httpx.AsyncClient(base_url=api, headers={"authorization": f"Bearer {token}"}, timeout=10)
        )
        podiums = []
        for i in range(args.podiums):
            p = VirtualPodium(
                f"b{i + 1:02d}", host, port, studio, rng=random.Random(rng.random()), on_command=on_command
            )
            podiums.append(await stack.enter_async_context(p))
        # wait until the host knows every podium with a trusted clock
        async with asyncio.timeout(30):
            while True:
                st = (await http.get("/api/state")).json()
                ok = {q["podium"] for q in st["podiums"] if q["online"] and q["clock_trusted"]}
                if len(ok) >= len(podiums):
                    break
                await asyncio.sleep(0.1)

        async def cmd(name: str, **a: Any) -> dict[str, Any]:
            r = await http.post("/api/command", json={"name": name, "args": a})
            body: dict[str, Any] = r.json()
            return body

        lockout: list[float] = []
        first_lock: list[float] = []
        decided: list[float] = []
        lost = 0
        for _ in range(args.presses):
            await cmd("read")
            await cmd("arm")
            try:
                async with asyncio.timeout(5):
                    await asyncio.gather(*(p.wait_light("armed") for p in podiums))
            except TimeoutError:
                lost += 1
                await cmd("next")
                continue
            presser = rng.choice(podiums)
            lock_at.clear()
            current_ep[0] = presser.epoch
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            t0 = now_us()
            await presser.press()
            try:
                async with asyncio.timeout(3):
                    while len(lock_at) < len(podiums) or light_at.get(presser.pid, ("", 0))[0] != "winner":
                        await asyncio.sleep(0.0005)
                lockout.append((max(lock_at.values()) - t0) / 1000)
                first_lock.append((min(lock_at.values()) - t0) / 1000)
                decided.append((light_at[presser.pid][1] - t0) / 1000)
            except TimeoutError:
                lost += 1
            await cmd("judge", correct=True)
            await cmd("next")
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

    from buzzline.io.broker import MosquittoBroker, free_port

    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        api_port = free_port()
        token = "bench-" + os.urandom(4).hex()
        log_path = args.log_path or os.path.join(tmp, "bench.db")
        prof = ["-m", "cProfile", "-o", args.profile_host] if args.profile_host else []
        host = subprocess.Popen(
            [
                sys.executable,
                *prof,
                "-m",
                "buzzline.cli",
                "host",
                "--broker",
                broker.address,
                "--studio",
                "bench",
                "--http",
                str(api_port),
                "--token",
                token,
                "--log",
                log_path,
            ],
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
