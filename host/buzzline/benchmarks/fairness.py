"""`buzzline bench fairness`: buzzline vs arrival order vs a fixed window, on the same simulated races."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from buzzline.core.clock import ClockModel
from buzzline.sim.netmodel import ProfileError, load_profile
from buzzline.sim.races import Outcome, RaceResult, RaceSim

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
    parser.add_argument(
        "--seeds",
        default=None,
        help="run one show per seed (e.g. 1-10 or 1,4,7) and report per figure the worst and the median seed",
    )
    parser.add_argument("--jobs", type=int, default=1, help="with --seeds: worker processes (at most 2)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--asymmetry",
        type=float,
        default=None,
        help="the host's allowance for the floors' unobservable difference up and down, a share of half "
        f"the floors' round trip (default: by each path, {ClockModel.ASYMMETRY} up to "
        f"{ClockModel.ASYMMETRY_SLOW} on slow ones; a venue that knows its paths states it)",
    )
    parser.add_argument(
        "--explain",
        metavar="FILE",
        help="write one JSON line per wrong, tie, overturned, timeout or uncovered race of buzzline to FILE",
    )


def _pct(values: list[int], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return float(s[min(len(s) - 1, int(q * len(s)))])


def _ms(v: float | None) -> float | None:
    return None if v is None else v / 1000


def _bucket(gap_us: int) -> str:
    return next(label for label, lo, hi in BUCKETS if gap_us >= lo and (hi is None or gap_us < hi))


def _right(o: Outcome, r: RaceResult) -> bool:
    return not o.tie and o.winner == r.truth[0]


def _wrong(o: Outcome, r: RaceResult) -> bool:
    return not o.tie and o.winner != r.truth[0]


def _system(results: list[RaceResult], system: str) -> dict[str, Any]:
    n = len(results)
    outs = [(getattr(r, system), r) for r in results]
    by_gap: dict[str, dict[str, int]] = {
        label: {"races": 0, "right": 0, "wrong": 0, "tie": 0, "overturned": 0} for label, _, _ in BUCKETS
    }
    for o, r in outs:
        b = by_gap[_bucket(r.gap_us)]
        b["races"] += 1
        b["right"] += _right(o, r)
        b["wrong"] += _wrong(o, r)
        b["tie"] += o.tie
        b["overturned"] += o.overturned
    wrong = sum(b["wrong"] for b in by_gap.values())
    ties = sum(b["tie"] for b in by_gap.values())
    lat = [o.latency_us for o, _ in outs]
    return {
        "accuracy_by_gap_ms": {
            k: round(b["right"] / b["races"], 5) if b["races"] else None for k, b in by_gap.items()
        },
        "wrong_rate": round(wrong / n, 5) if n else None,
        "tie_rate": round(ties / n, 5) if n else None,
        "overturn_rate": round(sum(o.overturned for o, _ in outs) / n, 5) if n else None,
        "provisional_rate": round(sum("provisional" in o.flags for o, _ in outs) / n, 5) if n else None,
        "decision_latency_ms": {"p50": _ms(_pct(lat, 0.5)), "p99": _ms(_pct(lat, 0.99))},
        "by_gap_ms": by_gap,
    }


def score(results: list[RaceResult]) -> dict[str, Any]:
    """Aggregate per system: accuracy by true gap, wrong/tie/overturn counts per bucket, latency;
    for buzzline also the clock error and bound coverage over every press the host received."""
    out: dict[str, Any] = {}
    for system in SYSTEMS:
        out[system] = _system(results, system)
    errs = [e for r in results for e in r.clock_errors_us]
    covered = sum(r.covered for r in results)
    out["buzzline"]["clock_error_us"] = {"p50": _pct(errs, 0.5), "p99": _pct(errs, 0.99)}
    out["buzzline"]["bound_coverage"] = round(covered / len(errs), 5) if errs else None
    out["buzzline"]["presses"] = len(errs)
    return out


def by_board(results: list[RaceResult]) -> dict[str, Any]:
    """Buzzline's figures per pair of boards of the two true leaders (mixed fleets)."""
    out: dict[str, Any] = {}
    for boards in sorted({r.boards for r in results}):
        rs = [r for r in results if r.boards == boards]
        s = _system(rs, "buzzline")
        cov = sum(r.covered for r in rs)
        presses = sum(len(r.clock_errors_us) for r in rs)
        out[boards] = {
            "races": len(rs),
            "accuracy_by_gap_ms": s["accuracy_by_gap_ms"],
            "wrong_rate": s["wrong_rate"],
            "tie_rate": s["tie_rate"],
            "bound_coverage": round(cov / presses, 5) if presses else None,
        }
    return out


def explain_lines(results: list[RaceResult]) -> list[str]:
    lines = []
    for r in results:
        o = r.buzzline
        why = [
            w
            for w, hit in (
                ("wrong", _wrong(o, r)),
                ("tie", o.tie),
                ("overturned", o.overturned),
                ("timeout", "timeout" in o.flags),
                ("uncovered", r.covered < len(r.clock_errors_us)),
            )
            if hit
        ]
        if why:
            row: dict[str, Any] = {"why": why, "winner": o.winner, "latency_us": o.latency_us, **r.detail}
            row["arrival_order"] = r.arrival_order.winner
            row["fixed_window"] = r.fixed_window.winner
            lines.append(json.dumps(row, sort_keys=True))
    return lines


def run_fairness(
    profile: str, trials: int, seed: int, explain: str | None = None, asymmetry: float | None = None
) -> dict[str, Any]:
    prof = load_profile(profile)
    sim = RaceSim(prof, seed, asymmetry=asymmetry)
    results = [sim.race() for _ in range(trials)]
    if explain is not None:
        text = "\n".join(explain_lines(results))
        Path(explain).write_text(text + "\n" if text else "", encoding="utf-8")
    races = {label: 0 for label, _, _ in BUCKETS}
    for r in results:
        races[_bucket(r.gap_us)] += 1
    return {
        "profile": prof.name,
        "seed": seed,
        "trials": trials,
        "host_asymmetry": "auto" if asymmetry is None else asymmetry,
        "races_by_gap_ms": races,
        "systems": score(results),
        "by_board": by_board(results),
        "resolved": prof.describe(),
    }


def _cell(v: float | None, fmt: str) -> str:
    return "-" if v is None else fmt.format(v)


def _table(report: dict[str, Any]) -> str:
    systems = report["systems"]
    lines = [f"profile {report['profile']}, seed {report['seed']}, {report['trials']} races", ""]
    lines.append(f"{'':24}" + "".join(f"{s:>15}" for s in SYSTEMS))
    for label, _lo, _hi in BUCKETS:
        acc = [f"{_cell(systems[s]['accuracy_by_gap_ms'][label], '{:.2%}'):>15}" for s in SYSTEMS]
        lines.append(f"{'accuracy, gap ' + label + ' ms':24}" + "".join(acc))
    for key in ("wrong_rate", "tie_rate", "overturn_rate"):
        cells = "".join(f"{_cell(systems[s][key], '{:.3%}'):>15}" for s in SYSTEMS)
        lines.append(f"{key.replace('_', ' '):24}" + cells)
    for q in ("p50", "p99"):
        cells = "".join(f"{_cell(systems[s]['decision_latency_ms'][q], '{:.1f}ms'):>15}" for s in SYSTEMS)
        lines.append(f"{'decision latency ' + q:24}" + cells)
    b = systems["buzzline"]
    ce = b["clock_error_us"]
    lines.append(
        f"buzzline clock error     p50 {_cell(ce['p50'], '{:.0f}')} us, p99 {_cell(ce['p99'], '{:.0f}')} us;"
        f" bound coverage {_cell(b['bound_coverage'], '{:.3%}')} of {b['presses']} presses"
    )
    if len(report["by_board"]) > 1:
        for boards, row in report["by_board"].items():
            accs = " ".join(f"{k} {_cell(v, '{:.1%}')}" for k, v in row["accuracy_by_gap_ms"].items())
            wrong = _cell(row["wrong_rate"], "{:.3%}")
            lines.append(f"  {boards} ({row['races']} races): {accs}; wrong {wrong}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    if args.trials < 1:
        print("buzzline bench fairness: --trials must be at least 1", file=sys.stderr)
        return 2
    if args.asymmetry is not None and not 0 <= args.asymmetry <= 1:
        print("buzzline bench fairness: --asymmetry must be within 0..1", file=sys.stderr)
        return 2
    if args.seeds is not None:
        return _run_seeds(args)
    try:
        report = run_fairness(args.profile, args.trials, args.seed, args.explain, args.asymmetry)
    except ProfileError as exc:
        print(f"buzzline bench fairness: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"buzzline bench fairness: cannot write {args.explain}: {exc.strerror}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else _table(report))
    return 0


def _run_seeds(args: argparse.Namespace) -> int:
    from buzzline.benchmarks import _fairness_seeds as fairness_seeds

    try:
        seeds = fairness_seeds.parse_seeds(args.seeds)
    except ValueError as exc:
        print(f"buzzline bench fairness: --seeds: {exc} (e.g. --seeds 1-10)", file=sys.stderr)
        return 2
    if args.explain is not None:
        print("buzzline bench fairness: --explain takes one --seed, not --seeds", file=sys.stderr)
        return 2
    if not 1 <= args.jobs <= fairness_seeds.MAX_JOBS:
        print(f"buzzline bench fairness: --jobs must be 1 to {fairness_seeds.MAX_JOBS}", file=sys.stderr)
        return 2
    try:
        report = fairness_seeds.run_seeds(
            run_fairness,
            [label for label, _, _ in BUCKETS],
            args.profile,
            args.trials,
            seeds,
            args.asymmetry,
            args.jobs,
        )
    except ProfileError as exc:
        print(f"buzzline bench fairness: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report) if args.json else fairness_seeds.table(report))
    return 0
