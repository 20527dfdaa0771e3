"""A process of simulated podiums for `bench e2e`, steered over stdin, reporting on stdout.

Real podiums are separate devices; packing sixteen MQTT clients into one Python event loop
would measure that loop's queue, not Buzzline. So the benchmark spreads its podiums over a few
of these workers. Timestamps are CLOCK_MONOTONIC microseconds, shared by every process here.

stdin:  ``press PODIUM`` (press now and report the instant), ``beat`` (every podium sends a
        heartbeat now), ``quit``
stdout: ``ready``, ``press PODIUM T``, ``arm PODIUM EPOCH T``, ``lock PODIUM EPOCH T``,
        ``light PODIUM PATTERN T``

Every podium stays in its settling clock sync (16 exchanges a second) for the whole run: the
heaviest steady load a podium puts on the host.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import random
import sys
from typing import Any

from buzzline.benchmarks._procs import say
from buzzline.hosttime import now_us
from buzzline.sim.podium import VirtualPodium


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--studio", required=True)
    ap.add_argument("--podiums", required=True, help="comma-separated ids")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args(argv)

    def on_command(p: VirtualPodium, msg: dict[str, Any], t: int) -> None:
        if msg["t"] in ("lock", "arm"):
            say(f"{msg['t']} {p.pid} {msg['ep']} {t}")
        elif msg["t"] == "light":
            say(f"light {p.pid} {msg['pat']} {t}")

    rng = random.Random(a.seed)
    async with contextlib.AsyncExitStack() as stack:
        pods: dict[str, VirtualPodium] = {}
        for pid in a.podiums.split(","):
            p = VirtualPodium(
                pid, a.host, a.port, a.studio, rng=random.Random(rng.random()), on_command=on_command
            )
            p.SETTLE_S = math.inf
            pods[pid] = await stack.enter_async_context(p)
        say("ready")
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while True:
            line = (await reader.readline()).decode().split()
            if not line or line[0] == "quit":
                break
            if line[0] == "beat":
                for p in pods.values():
                    p.heartbeat()
            if line[0] == "press" and line[1] in pods:
                t0 = now_us()
                await pods[line[1]].press()
                say(f"press {line[1]} {t0}")
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
