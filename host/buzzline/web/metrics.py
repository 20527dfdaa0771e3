"""Histograms and the Prometheus text exposition format (version 0.0.4), without a client library.

``Histogram`` is plain bookkeeping (cumulative buckets, sum, count); ``render`` writes families of
counters, gauges and histograms with HELP and TYPE lines, label values escaped as the format asks.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

# seconds: from a fraction of a millisecond (the host's own path) to a second (a bounded wait gone bad)
LATENCY_BUCKETS_S = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0)


class Histogram:
    def __init__(self, buckets: Sequence[float] = LATENCY_BUCKETS_S) -> None:
        if list(buckets) != sorted(buckets) or not buckets:
            raise ValueError("buckets must be given in increasing order")
        self.buckets = tuple(float(b) for b in buckets)
        self.counts = [0] * (len(self.buckets) + 1)  # the last one is +Inf
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        if not math.isfinite(value):
            return
        self.counts[bisect.bisect_left(self.buckets, value)] += 1
        self.sum += value
        self.count += 1

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), ending with (+Inf, count)."""
        out, total = [], 0
        for bound, n in zip((*self.buckets, math.inf), self.counts, strict=True):
            total += n
            out.append((bound, total))
        return out

    def as_dict(self) -> dict[str, object]:
        return {
            "buckets": [[b if math.isfinite(b) else "+Inf", n] for b, n in self.cumulative()],
            "sum": self.sum,
            "count": self.count,
        }


@dataclass
class Family:
    name: str
    type: str  # counter, gauge, histogram
    help: str
    samples: list[tuple[dict[str, str], float]] = field(default_factory=list)
    histograms: list[tuple[dict[str, str], Histogram]] = field(default_factory=list)

    def add(self, value: float, **labels: str) -> Family:
        self.samples.append((labels, value))
        return self

    def add_histogram(self, h: Histogram, **labels: str) -> Family:
        self.histograms.append((labels, h))
        return self


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(labels: Mapping[str, str]) -> str:
    if not labels:
        return ""
    return "{" + ",".join(f'{k}="{_escape(str(v))}"' for k, v in labels.items()) + "}"


def _num(v: float) -> str:
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if math.isnan(v):
        return "NaN"
    return repr(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def render(families: Iterable[Family]) -> str:
    lines: list[str] = []
    for f in families:
        help_text = f.help.replace("\\", "\\\\").replace("\n", "\\n")
        name = (
            f.name + "_total" if f.type == "counter" else f.name
        )  # text format 0.0.4: TYPE names the sample
        lines.append(f"# HELP {name} {help_text}")
        lines.append(f"# TYPE {name} {f.type}")
        for labels, value in f.samples:
            lines.append(f"{name}{_labels(labels)} {_num(value)}")
        for labels, h in f.histograms:
            for bound, n in h.cumulative():
                le = "+Inf" if math.isinf(bound) else repr(bound)
                lines.append(f"{f.name}_bucket{_labels({**labels, 'le': le})} {n}")
            lines.append(f"{f.name}_sum{_labels(labels)} {_num(h.sum)}")
            lines.append(f"{f.name}_count{_labels(labels)} {h.count}")
    return "\n".join(lines) + "\n"
