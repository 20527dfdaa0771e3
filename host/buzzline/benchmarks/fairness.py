"""`buzzline bench fairness`: buzzline vs arrival order vs a fixed window, on the same simulated races."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from buzzline.sim.netmodel import ProfileError, load_profile
from buzzline.sim.races import RaceResult, RaceSim

NAME = "fairness"
HELP = "simulate close races on a network profile and score three arbitration systems"

BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("0-0.5", 0, 500),
    ("0.5-1", 500, 1_000),
    ("1-2", 1_000, 2_000),
    ("2-5", 2_000, 5_000),
    ("5-20", 5_000, 20_000),
    ("20+", 20_000, None),
)
SYSTEMS = ("buzzline", "arrival_order", "fixed_window")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", default="wifi", help="profile name in bench/profiles or a .toml path")
    parser.add_argument("--trials", type=int, default=2_000, help="number of races")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def _pct(values: list[int], q: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


def score(results: list[RaceResult]) -> dict[str, Any]:
    """Aggregate per system: accuracy by true gap, wrong and tie rates, latency (and clock error)."""
    out: dict[str, Any] = {}
    n = len(results)
    for system in SYSTEMS:
        acc: dict[str, float | None] = {}
        for label, lo, hi in BUCKETS:
            rs = [r for r in results if r.gap_us >= lo and (hi is None or r.gap_us < hi)]
            good = sum(
                1 for r in rs if not getattr(r, system).tie and getattr(r, system).winner == r.truth[0]
            )
            acc[label] = round(good / len(rs), 5) if rs else None
        wrong = sum(
            1 for r in results if not getattr(r, system).tie and getattr(r, system).winner != r.truth[0]
        )
        ties = sum(1 for r in results if getattr(r, system).tie)
        lat = [getattr(r, system).latency_us for r in results]
        entry: dict[str, Any] = {
            "accuracy_by_gap_ms": acc,
            "wrong_rate": round(wrong / n, 5) if n else 0.0,
            "tie_rate": round(ties / n, 5) if n else 0.0,
            "decision_latency_ms": {"p50": _pct(lat, 0.5) / 1000, "p99": _pct(lat, 0.99) / 1000},
        }
        if system == "buzzline":
            errs = [e for r in results for e in r.clock_errors_us]
            entry["clock_error_us"] = {"p50": _pct(errs, 0.5), "p99": _pct(errs, 0.99)}
        out[system] = entry
    return out


def run_fairness(profile: str, trials: int, seed: int) -> dict[str, Any]:
    prof = load_profile(profile)
    sim = RaceSim(prof, seed)
    results = [sim.race() for _ in range(trials)]
    return {"profile": prof.name, "trials": trials, "systems": score(results)}


def _table(report: dict[str, Any]) -> str:
    systems = report["systems"]
    lines = [f"profile {report['profile']}, {report['trials']} races", ""]
    lines.append(f"{'':24}" + "".join(f"{s:>15}" for s in SYSTEMS))
    for label, _lo, _hi in BUCKETS:
        cells = []
        for s in SYSTEMS:
            a = systems[s]["accuracy_by_gap_ms"][label]
            cells.append(f"{'-' if a is None else f'{a * 100:.2f}%':>15}")
        lines.append(f"{'accuracy, gap ' + label + ' ms':24}" + "".join(cells))
    for key, fmt in (("wrong_rate", "{:.3%}"), ("tie_rate", "{:.3%}")):
        lines.append(
            f"{key.replace('_', ' '):24}" + "".join(f"{fmt.format(systems[s][key]):>15}" for s in SYSTEMS)
        )
    for q in ("p50", "p99"):
        row = "".join(f"{systems[s]['decision_latency_ms'][q]:>13.1f}ms" for s in SYSTEMS)
        lines.append(f"{'decision latency ' + q:24}" + row)
    ce = systems["buzzline"]["clock_error_us"]
    lines.append(f"buzzline clock error     p50 {ce['p50']:.0f} us, p99 {ce['p99']:.0f} us")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        print("buzzline bench fairness: --trials must be at least 1", file=sys.stderr)
        return 2
    try:
        report = run_fairness(args.profile, args.trials, args.seed)
    except ProfileError as exc:
        print(f"buzzline bench fairness: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else _table(report))
    return 0
