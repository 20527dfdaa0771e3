"""`buzzline bench core`: events per second through the clock model and the arbiter on one core."""

from __future__ import annotations

import argparse
import json
import random
import time

from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.clock import ClockBook
from buzzline.core.types import Press

NAME = "core"
HELP = "measure events/s through clock model + arbiter (sync samples, presses, watermarks)"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--events", type=int, default=200_000, help="events to push through")
    parser.add_argument("--podiums", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")


def run_core(events: int, podiums: int, seed: int) -> dict[str, float | int]:
    """A show's traffic mix: each race is 1 sync sample, 2 presses and acks/heartbeats per podium."""
    rng = random.Random(seed)
    ids = [f"p{i}" for i in range(podiums)]
    book = ClockBook()
    pts = {pid: rng.randrange(1_000_000, 9_000_000) for pid in ids}
    offs = {pid: rng.randrange(10**9, 2 * 10**9) for pid in ids}
    now = 100_000_000
    # warm the models so mapping runs the trusted path
    for k in range(20):
        for pid in ids:
            t1 = pts[pid] + k * 500_000
            book.model(pid, 1).add_sample(t1, t1 + offs[pid] + 2_000, t1 + offs[pid] + 2_080, t1 + 4_100)
    rules = ArbiterRules()
    done = 0
    epoch = 0
    t0 = time.perf_counter()
    while done < events:
        epoch += 1
        now += 2_000_000
        arb = Arbiter(epoch, dict.fromkeys(ids), rules, seed=epoch)
        arb.arm(now, now)
        pid = ids[epoch % podiums]
        t1 = pts[pid] + now
        done += (
            book.model(pid, 1).add_sample(t1, t1 + offs[pid] + 2_000, t1 + offs[pid] + 2_080, t1 + 4_100) or 1
        )
        for j, p in enumerate(ids):
            pt = pts[p] + now + 300_000 + j * 700
            book.note_time(p, 1, pt)
            mp = book.map(p, pt)
            arrival = now + 305_000 + j * 900
            if j < 2:
                arb.press(Press(p, epoch * 10 + 1, pt, mp.host_us, mp.err_us, arrival, mp.trusted), arrival)
            else:
                arb.watermark(p, epoch * 10 + 2, mp.host_us + 20_000, arrival + 20_000, err_us=mp.err_us)
            done += 1
        if arb.phase != "decided":
            arb.tick(now + 400_000)
    elapsed = time.perf_counter() - t0
    return {"events": done, "seconds": round(elapsed, 3), "events_per_s": round(done / elapsed)}


def run(args: argparse.Namespace) -> int:
    if args.events < 1 or args.podiums < 2:
        print("buzzline bench core: --events >= 1 and --podiums >= 2 required")
        return 2
    r = run_core(args.events, args.podiums, args.seed)
    if args.json:
        print(json.dumps(r))
    else:
        print(
            f"{r['events']} events in {r['seconds']} s: {r['events_per_s']:,} events/s"
            " (clock model + arbiter)"
        )
    return 0
