# Podium time: ticks_us extended to a monotonic 64-bit microsecond count, and the
# conversion of an IRQ-captured raw tick into that time.
from time import ticks_diff, ticks_us


class PodiumClock:
    def __init__(self) -> None:
        self._last = ticks_us()
        # Start at 0 + a little so podium time is never 0 (0 would look like "unset").
        self._us = 1

    def now(self) -> int:
        # Must run more often than half the tick period (about 9 minutes on a 30-bit port);
        # the heartbeat loop guarantees that.
        raw = ticks_us()
        self._us += ticks_diff(raw, self._last)
        self._last = raw
        return self._us

    def at(self, raw: int) -> int:
        """Podium time of a raw ticks_us value taken in the recent past (e.g. in an IRQ)."""
        now = self.now()
        return now - ticks_diff(self._last, raw)

    def deinit(self) -> None:
        pass
