"""Host time: CLOCK_MONOTONIC in microseconds, the one clock every part of the host stamps with.

It is the same in every process on one machine and survives a host restart (resume), which is why
the event log, the lock trace, the benchmarks and the simulated podiums all read it from here.
The pure layers (core/, gate/) never read a clock: they are handed this time.
"""

from __future__ import annotations

import time


def now_us() -> int:
    return time.monotonic_ns() // 1000
