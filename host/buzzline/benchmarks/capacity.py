"""`buzzline bench capacity`: how many podiums one host serves within its latency budget.

Runs `bench e2e` (host presses only, every podium in its settling clock sync: 16 exchanges a
second each, plus heartbeats) at a rising podium count until the host's ``host_us`` p99 (buzz
read off the socket -> lock handed to it) passes ``--budget-us`` or a press is lost. Prints the
largest count that held and the host's CPU share there (CPU seconds per wall second, of one core).

On a machine the host shares (the simulated podiums and the broker run on it too), ``host_us``
also holds the time the host waited for a core. So each step is judged twice: ``holds`` on
``host_us`` (wall time, as asked), ``holds_cpu`` on the CPU time the host's thread spent from
taking the buzz to sending the lock (its own work), with the host's CPU share below one core.
Steps go on while either holds; ``podiums`` and ``podiums_cpu`` are the largest counts for each.
See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from typing import Any

from buzzline.benchmarks.e2e import BenchError, measure

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
    best_cpu: dict[str, Any] | None = None
    with MosquittoBroker() as broker:
        n = args.start
        while n <= args.max_podiums:
            with tempfile.TemporaryDirectory() as tmp:
                try:
                    r = asyncio.run(measure(_e2e_args(args, n), broker.host, broker.port, tmp, rtt_probes=0))
                except BenchError as e:
                    steps.append({"podiums": n, "error": str(e), "holds": False, "holds_cpu": False})
                    break
            h = r["host_us"]
            step = {
                "podiums": n,
                "host_us": {k: h.get(k) for k in ("p50", "p99", "max")},
                "handled_cpu_us": h.get("handled_cpu_us"),
                "lockout_ms": r["lockout_ms"],
                "decided_ms": r["decided_ms"],
                "lost": r["lost"],
                "host_cpu": r["host_cpu"],
            }
            kept = r["lost"] == 0 and h.get("n", 0) > 0
            step["holds"] = kept and h["p99"] <= args.budget_us
            step["holds_cpu"] = kept and h["handled_cpu_us"]["p99"] <= args.budget_us and r["host_cpu"] < 1
            steps.append(step)
            if not args.json:
                print(json.dumps(step), flush=True)
            if step["holds"] and (best is None or best["podiums"] < n):
                best = step
            if step["holds_cpu"]:
                best_cpu = step
            if not (step["holds"] or step["holds_cpu"]):
                break
            n += args.step
    result = {
        "budget_us": args.budget_us,
        "podiums": best["podiums"] if best else 0,
        "host_cpu": best["host_cpu"] if best else None,
        "podiums_cpu": best_cpu["podiums"] if best_cpu else 0,
        "host_cpu_at_podiums_cpu": best_cpu["host_cpu"] if best_cpu else None,
        "steps": steps,
    }
    if args.json:
        print(json.dumps(result))
    else:
        rows = (("host_us", "podiums", "host_cpu"), ("CPU", "podiums_cpu", "host_cpu_at_podiums_cpu"))
        for what, key, cpu in rows:
            share = f", host CPU {result[cpu]:.0%} of a core" if result[cpu] is not None else ""
            print(f"capacity: {result[key]} podiums within {what} p99 <= {args.budget_us} us{share}")
    return 0 if best or best_cpu else 1
