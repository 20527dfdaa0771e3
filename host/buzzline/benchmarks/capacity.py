"""`buzzline bench capacity`: how many podiums one host serves within its latency budget.

Runs `bench e2e` (host presses only, every podium in its settling clock sync: 16 exchanges a
second each, plus heartbeats) at a rising podium count until the host's ``host_us`` p99 (buzz
read off the socket -> lock handed to it) passes ``--budget-us`` or a press is lost. Prints the
largest count that held and the host's CPU share there (CPU seconds per wall second, of one core).
The simulated podiums share the machine with the host: see docs/performance.md for what that
limits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from typing import Any

from buzzline.benchmarks.e2e import measure

NAME = "capacity"
HELP = "the largest podium count one host serves within its lock latency budget"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--start", type=int, default=16, help="first podium count")
    p.add_argument("--step", type=int, default=16, help="podiums added per step")
    p.add_argument("--max", dest="max_podiums", type=int, default=256, help="stop after this count")
    p.add_argument("--presses", type=int, default=100, help="presses per step")
    p.add_argument("--budget-us", type=int, default=2000, help="host_us p99 a step must stay within")
    p.add_argument("--workers", type=int, default=2, help="processes the simulated podiums are spread over")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _e2e_args(args: argparse.Namespace, podiums: int) -> argparse.Namespace:
    return argparse.Namespace(
        podiums=podiums,
        presses=args.presses,
        seed=args.seed,
        workers=args.workers,
        log_path=None,
        profile_host=None,
        relay=False,
        slow_adapter=False,
        lock_after_fsync=False,
        fsync_inline=False,
    )


def run(args: argparse.Namespace) -> int:
    from buzzline.errors import UserError
    from buzzline.io.broker import MosquittoBroker

    if min(args.start, args.step, args.max_podiums, args.presses, args.workers, args.budget_us) < 1:
        raise UserError("bench capacity", "every count must be at least 1")
    steps: list[dict[str, Any]] = []
    best: dict[str, Any] | None = None
    with MosquittoBroker() as broker:
        n = args.start
        while n <= args.max_podiums:
            with tempfile.TemporaryDirectory() as tmp:
                r = asyncio.run(measure(_e2e_args(args, n), broker.host, broker.port, tmp, rtt_probes=0))
            step = {
                "podiums": n,
                "host_us": {k: r["host_us"].get(k) for k in ("p50", "p99", "max")},
                "lockout_ms": r["lockout_ms"],
                "decided_ms": r["decided_ms"],
                "lost": r["lost"],
                "host_cpu": r["host_cpu"],
            }
            step["holds"] = r["lost"] == 0 and (r["host_us"].get("p99") or 0) <= args.budget_us
            steps.append(step)
            if not args.json:
                print(json.dumps(step), flush=True)
            if not step["holds"]:
                break
            best = step
            n += args.step
    result = {
        "budget_us": args.budget_us,
        "podiums": best["podiums"] if best else 0,
        "host_cpu": best["host_cpu"] if best else None,
        "steps": steps,
    }
    if args.json:
        print(json.dumps(result))
    else:
        cpu = f", host CPU {result['host_cpu']:.0%} of a core" if best else ""
        print(f"capacity: {result['podiums']} podiums within host_us p99 <= {args.budget_us} us{cpu}")
    return 0 if best else 1
