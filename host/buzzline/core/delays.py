"""Observed one-way delays per podium, for the arbiter's per-podium wait caps (pure, replayable).

Every upstream message stamped by a podium (heartbeat, lock acknowledgement, buzz) gives one
sample: its arrival on the host clock minus its mapped send time. A podium's wait cap is a high
quantile of its recent samples plus the clock bound and a margin: how long after a press its buzz
arrives in all but the rarest cases. Podiums with too few samples (or only untrusted clocks) get
no cap, and the arbiter falls back to its absolute cap.
"""

from __future__ import annotations

from collections import deque


class DelayBook:
    WINDOW = 256  # newest samples kept per podium
    MIN_SAMPLES = 16
    QUANTILE = 0.995
    MARGIN_US = 5_000  # debounce, scheduling, and the sample error of a high quantile
    FACTOR = 2.0  # the quantile of the last few minutes, with room for a path getting worse
    MAX_ERR_US = 20_000  # a mapping this uncertain says nothing about the delay

    def __init__(self) -> None:
        self._samples: dict[str, deque[int]] = {}
        self._err: dict[str, int] = {}

    def note(self, podium: str, mapped_us: int, err_us: int, arrival_us: int) -> None:
        """One message from ``podium`` sent at ``mapped_us`` (± ``err_us``) arrived at ``arrival_us``."""
        if err_us > self.MAX_ERR_US:
            return
        q = self._samples.get(podium)
        if q is None:
            q = self._samples[podium] = deque(maxlen=self.WINDOW)
        q.append(max(0, arrival_us - mapped_us))
        self._err[podium] = err_us

    def cap_us(self, podium: str) -> int | None:
        q = self._samples.get(podium)
        if q is None or len(q) < self.MIN_SAMPLES:
            return None
        s = sorted(q)
        hi = s[min(len(s) - 1, int(self.QUANTILE * len(s)))]
        return int(hi * self.FACTOR) + self._err[podium] + self.MARGIN_US

    def caps(self) -> dict[str, int]:
        out = {}
        for podium in self._samples:
            cap = self.cap_us(podium)
            if cap is not None:
                out[podium] = cap
        return out

    def forget(self, podium: str) -> None:
        self._samples.pop(podium, None)
        self._err.pop(podium, None)
