"""The podium table: what the host knows about each podium it has heard from (the gate owns it).

Pure bookkeeping (time passed in): presence from retained messages and last wills, the last
heartbeat with RSSI and battery, hardware and firmware from hello, and the clock error bound.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass
class PodiumInfo:
    podium: str
    online: bool = False
    boot: int | None = None
    hw: str = ""
    board: str = ""
    fw: str = ""
    last_heard_us: int = 0
    last_hb_us: int = 0
    rssi: int | None = None
    batt_mv: int | None = None
    clock_err_us: int | None = None
    clock_trusted: bool = False
    faults: int = 0
    seq_gaps: int = 0
    cap: list[int] | None = None  # hello.cap as declared: [p99_us, max_us] from its selftest
    capture_us: int | None = None  # the capture bound the host adds to its presses (None: no hello yet)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class PodiumRegistry:
    def __init__(self) -> None:
        self.podiums: dict[str, PodiumInfo] = {}

    def get(self, podium: str) -> PodiumInfo:
        info = self.podiums.get(podium)
        if info is None:
            info = self.podiums[podium] = PodiumInfo(podium)
        return info

    def heard(self, podium: str, now_us: int) -> PodiumInfo:
        info = self.get(podium)
        info.last_heard_us = now_us
        return info

    def online(self) -> list[str]:
        return sorted(p for p, i in self.podiums.items() if i.online)

    def snapshot(self) -> list[dict[str, Any]]:
        return [self.podiums[p].as_dict() for p in sorted(self.podiums)]
