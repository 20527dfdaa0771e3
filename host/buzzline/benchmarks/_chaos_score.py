"""Scoring a chaos run: the presses the benchmark made (it knows their true order) against what
the host's event log says it received and decided. Pure: lists in, figures out."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buzzline.benchmarks._stats import percentile
from buzzline.core.types import Decision


@dataclass(frozen=True)
class TruePress:
    """One press as it really happened: ``h_us`` is the host-clock instant the button went down."""

    question: int
    epoch: int
    podium: str
    podium_us: int
    h_us: int


@dataclass
class LogFacts:
    """What the host's log holds: every press it took in, and its decisions in order."""

    received: list[tuple[str, int]] = field(default_factory=list)  # (podium, podium_us) per input
    decisions: list[Decision] = field(default_factory=list)


def read_log(path: str | Path) -> LogFacts:
    from buzzline.io.eventlog import EventLog
    from buzzline.showreport import DECISION_KINDS, decision_of

    facts = LogFacts()
    with EventLog(path, readonly=True) as log:
        for rec in log.records():
            if rec.kind == "input" and rec.data.get("type") == "PodiumPress":
                ev = rec.data.get("event", {})
                facts.received.append((str(ev.get("podium")), int(ev.get("podium_us", -1))))
            elif rec.kind in DECISION_KINDS:
                facts.decisions.append(decision_of(rec))
    return facts


def _summary(values: Iterable[float]) -> dict[str, float | None]:
    v = list(values)
    if not v:
        return {"p50": None, "max": None, "n": 0}
    return {"p50": round(percentile(v, 50), 3), "max": round(max(v), 3), "n": len(v)}


def score(
    presses: list[TruePress],
    facts: LogFacts,
    recovery: dict[str, list[float]],
) -> dict[str, Any]:
    """The figures: presses, decided, lost, doubled, wrong, timeouts, recovery_s, and more.

    A decision for another podium than the first presser is ``wrong``, unless the host declared
    the first presser tied with the winner (their bounds overlap: it could not tell them apart,
    said so, and the show's tie rule chose): that is a ``tie_calls``."""
    final: dict[int, Decision] = {}
    overturned = 0
    for d in facts.decisions:  # an overturn or a reopening is a later decision of the same epoch
        final[d.epoch] = d
        overturned += "overturned" in d.flags
    seen = set(facts.received)
    for d in facts.decisions:  # a press recovered from a lock acknowledgement is in the evidence
        listed = d.evidence.get("presses")
        for p in listed if isinstance(listed, list) else []:
            if isinstance(p, dict):
                seen.add((str(p.get("podium")), int(p.get("podium_us", -1))))
    by_question: dict[int, list[TruePress]] = defaultdict(list)
    for p in presses:
        by_question[p.question].append(p)
    lost = [p for p in presses if (p.podium, p.podium_us) not in seen]
    decided = wrong = timeouts = doubled = tie_calls = 0
    undecided: list[int] = []
    wrong_cases: list[dict[str, Any]] = []
    tie_cases: list[dict[str, Any]] = []
    for q, ps in sorted(by_question.items()):
        first = min(ps, key=lambda p: p.h_us)
        got = final.get(first.epoch)
        if got is None or got.winner is None:
            timeouts += got is None
            undecided.append(q)
            continue
        d = got
        decided += 1
        timeouts += "timeout" in d.flags
        podiums = [r.podium for r in d.order]
        doubled += len(podiums) - len(set(podiums))
        if d.winner == first.podium:
            continue
        case = {"question": q, "epoch": first.epoch, "true": first.podium, "decided": d.winner}
        if first.podium in d.tied:  # declared a tie (bounds overlap) and settled by the show's rule
            tie_calls += 1
            tie_cases.append(case)
        else:
            wrong += 1
            wrong_cases.append(case)
    return {
        "presses": len(presses),
        "questions": len(by_question),
        "decided": decided,
        "undecided_questions": undecided[:10],
        "lost": len(lost),
        "doubled": doubled,
        "wrong": wrong,
        "timeouts": timeouts,
        "overturned": overturned,
        "tie_calls": tie_calls,
        "recovery_s": {k: _summary(v) for k, v in recovery.items() if not k.endswith("_clock")},
        "clock_trust_s": {
            k.removesuffix("_clock"): _summary(v) for k, v in recovery.items() if k.endswith("_clock")
        },
        "wrong_cases": wrong_cases[:10],
        "tie_cases": tie_cases[:10],
        "lost_presses": [{"question": p.question, "podium": p.podium} for p in lost[:10]],
    }
