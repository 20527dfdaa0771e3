"""`bench audience`'s crowd: N simulated members in one child process, steered in lines.

Arguments: a JSON object {urls, code, n, seed, user, password, think}. Prints ``ready`` once every
member has joined and set its clock; then answers ``stats`` with one JSON line (per question:
each member's acknowledged choice; fan-out and results latencies; outages; clock errors) and
``quit`` by leaving.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from buzzline.benchmarks._procs import say
from buzzline.io import priority
from buzzline.sim.audience import Crowd


def stats(crowd: Crowd, began_up: float, listen: bool) -> dict[str, Any]:
    members = crowd.members
    acked: dict[str, dict[str, int]] = {}
    for m in members:
        for q, choice in m.stats.acked.items():
            acked.setdefault(str(q), {})[m.sid] = choice
    return {
        "acked": acked,
        "fanout_us": [x for m in members for x in m.stats.fanout_us],
        "fanout_read_us": [x for m in members for x in m.stats.fanout_read_us],
        "results_us": [x for m in members for x in m.stats.results_us],
        "results_read_us": [x for m in members for x in m.stats.results_read_us],
        "outages_s": [x for m in members for x in m.link.outages],
        "moved": sum(1 for m in members if m.link.outages),
        "down_now": sum(1 for m in members if not m.link.up),
        "in_flight": sum(len(m.answering) for m in members),
        "resends": sum(m.stats.resends for m in members),
        "deduped": sum(m.stats.deduped for m in members),
        "clock_err_us": [m.stats.clock_err_us[-1] for m in members if m.stats.clock_err_us],
        "bounds_us": [m.stats.bounds_us[-1] for m in members if m.stats.bounds_us],
        "join_s": began_up,
        "listen": listen,
    }


async def main(cfg: dict[str, Any]) -> None:
    # stands for phones elsewhere: the show gets the CPU first (or CPUs of its own)
    priority.apply(cfg.get("nice") or 0, cfg.get("cpus"))
    crowd = Crowd(cfg["urls"], cfg["code"], cfg["n"], cfg["user"], cfg["password"], cfg["seed"])
    for m in crowd.members:
        m.think_s = (float(cfg["think"][0]), float(cfg["think"][1]))
        m.answers = not cfg.get("listen")
    t0 = time.monotonic()
    await crowd.start(batch=200)
    up = time.monotonic() - t0
    say("ready")
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    try:
        while line := (await reader.readline()).decode().strip():
            if line == "stats":
                say("stats " + json.dumps(stats(crowd, up, bool(cfg.get("listen")))))
            elif line == "quit":
                break
            else:
                say(f"err unknown {line!r}")
    finally:
        await crowd.close()


if __name__ == "__main__":
    asyncio.run(main(json.loads(sys.argv[1])))
