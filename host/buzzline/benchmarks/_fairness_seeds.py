"""`buzzline bench fairness --seeds 1-10`: one show per seed, and per figure its worst and median seed.

A target holds only if it holds on every seed: the worst seed of each figure (lowest accuracy
or coverage, highest wrong or tie rate, clock error and latency) is what a target is checked
against, the median seed is what a typical show looks like. Seeds run in up to ``jobs`` worker
processes (the machine is shared: at most 2).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import Any

MAX_SEEDS = 1_000
MAX_JOBS = 2

# (name, getter from one seed's buzzline figures, True if higher is worse)
Figure = tuple[str, Callable[[dict[str, Any]], float | None], bool]


def _bucket(label: str) -> Callable[[dict[str, Any]], float | None]:
    return lambda b: b["accuracy_by_gap_ms"][label]


# the fairness benchmark hands in its run and its gap buckets' labels (no import back: no circle)
Run = Callable[..., dict[str, Any]]


def figures(labels: list[str]) -> tuple[Figure, ...]:
    return (*((f"accuracy {label} ms", _bucket(label), False) for label in labels), *FIGURES)


FIGURES: tuple[Figure, ...] = (
    ("wrong_rate", lambda b: b["wrong_rate"], True),
    ("tie_rate", lambda b: b["tie_rate"], True),
    ("overturn_rate", lambda b: b["overturn_rate"], True),
    ("bound_coverage", lambda b: b["bound_coverage"], False),
    ("clock_error_us p50", lambda b: b["clock_error_us"]["p50"], True),
    ("clock_error_us p99", lambda b: b["clock_error_us"]["p99"], True),
    ("decision_latency_ms p50", lambda b: b["decision_latency_ms"]["p50"], True),
    ("decision_latency_ms p99", lambda b: b["decision_latency_ms"]["p99"], True),
)


def parse_seeds(text: str) -> list[int]:
    """``1-10``, ``3``, ``1,4,7`` or ``1-3,9``; raises ValueError with the reason."""
    seeds: list[int] = []
    for part in text.split(","):
        lo, sep, hi = part.strip().partition("-")
        try:
            a = int(lo)
            b = int(hi) if sep else a
        except ValueError:
            raise ValueError(f"{part.strip()!r} is not a seed or a range like 1-10") from None
        if a > b:
            raise ValueError(f"{part.strip()!r} runs backwards")
        seeds.extend(range(a, b + 1))
    if not seeds or len(seeds) > MAX_SEEDS:
        raise ValueError(f"give 1 to {MAX_SEEDS} seeds")
    return sorted(set(seeds))


def summarize(reports: list[dict[str, Any]], labels: list[str]) -> dict[str, Any]:
    """Per figure of buzzline: its value on every seed, the worst seed and the median seed."""
    out: dict[str, Any] = {}
    for name, get, higher_worse in figures(labels):
        vals = [(v, r["seed"]) for r in reports if (v := get(r["systems"]["buzzline"])) is not None]
        if not vals:
            out[name] = None
            continue
        ranked = sorted(vals, key=lambda p: p[0], reverse=not higher_worse)  # best first
        worst, median = ranked[-1], ranked[(len(ranked) - 1) // 2]
        out[name] = {
            "worst": worst[0],
            "worst_seed": worst[1],
            "median": median[0],
            "median_seed": median[1],
            "by_seed": {str(s): v for v, s in sorted(vals, key=lambda p: p[1])},
        }
    return out


def _one(args: tuple[Run, str, int, int, float | None]) -> dict[str, Any]:
    run, profile, trials, seed, asymmetry = args
    report = run(profile, trials, seed, asymmetry=asymmetry)
    report.pop("resolved", None)  # the same for every seed: kept once, in the summary
    return report


def run_seeds(
    run: Run,
    labels: list[str],
    profile: str,
    trials: int,
    seeds: list[int],
    asymmetry: float | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """``run`` (the fairness benchmark's, a module-level function: workers get it by name) once
    per seed; ``labels``: its gap buckets, one accuracy figure each."""
    from buzzline.sim.netmodel import load_profile

    prof = load_profile(profile)  # a bad profile fails here, before any worker starts
    work = [(run, profile, trials, s, asymmetry) for s in seeds]
    jobs = max(1, min(jobs, MAX_JOBS, len(seeds)))
    if jobs == 1:
        reports = [_one(w) for w in work]
    else:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            reports = pool.map(_one, work)
    return {
        "profile": prof.name,
        "seeds": seeds,
        "trials": trials,
        "host_asymmetry": "auto" if asymmetry is None else asymmetry,
        "figures": summarize(reports, labels),
        "runs": reports,
        "resolved": prof.describe(),
    }


def table(report: dict[str, Any]) -> str:
    seeds = report["seeds"]
    span = (
        f"{seeds[0]}-{seeds[-1]}"
        if seeds == list(range(seeds[0], seeds[-1] + 1))
        else ",".join(map(str, seeds))
    )
    lines = [f"profile {report['profile']}, seeds {span}, {report['trials']} races each (buzzline)", ""]
    lines.append(f"{'':26}{'worst':>12}{'seed':>6}{'median':>12}{'seed':>6}")
    for name, f in report["figures"].items():
        if f is None:
            lines.append(f"{name:26}{'-':>12}")
            continue
        fmt = "{:.3%}" if "rate" in name or "accuracy" in name or "coverage" in name else "{:.1f}"
        lines.append(
            f"{name:26}{fmt.format(f['worst']):>12}{f['worst_seed']:>6}"
            f"{fmt.format(f['median']):>12}{f['median_seed']:>6}"
        )
    return "\n".join(lines)
