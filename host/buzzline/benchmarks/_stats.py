"""Summary statistics shared by the benchmarks (nearest-rank percentiles, no numpy needed)."""

from __future__ import annotations

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]; NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100 * len(s)) - 1))
    return float(s[k])


def p50_p99(values: Sequence[float], ndigits: int = 3) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), ndigits), "p99": round(percentile(values, 99), ndigits)}
