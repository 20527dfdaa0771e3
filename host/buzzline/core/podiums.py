"""The podium table: everything the host knows about each podium, in one place, pure.

One record per podium. Two writers, each with its own fields: the game engine writes what its
inputs say (presence and hello, replayed from the event log after a restart: ``set_presence``,
``set_hello``), the gate writes what this host session heard on the link (``heard``, the last
heartbeat, the boot, the declared capture, the clock's error bound, faults and gaps).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from buzzline.core.contract import PodiumRow


@dataclass
class PodiumInfo:
    podium: str
    # -- the link, this session (the gate's) --
    online: bool = False  # connected as this session heard it (presence, or any up message)
    boot: int | None = None  # the boot its last up message came from
    last_heard_us: int = 0
    last_hb_us: int = 0
    rssi: int | None = None
    batt_mv: int | None = None
    clock_err_us: int | None = None
    clock_trusted: bool = False
    faults: int = 0
    seq_gaps: int = 0
    cap: list[int] | None = None  # hello.cap as declared: [p99_us, max_us] from its selftest
    hello_boot: int | None = None  # the boot whose hello this session has (None: none yet)
    asked: tuple[int, int] | None = None  # (boot, when) of the last askhello
    # -- its hello, as the game's inputs say (the engine's; a resumed host has them from the log) --
    hw: str = ""
    board: str = ""
    fw: str = ""
    capture_us: int | None = None  # the capture bound the host adds to its presses (None: no hello)

    def as_dict(self) -> PodiumRow:
        return {
            "podium": self.podium, "online": self.online, "boot": self.boot,
            "last_heard_us": self.last_heard_us, "last_hb_us": self.last_hb_us, "rssi": self.rssi,
            "batt_mv": self.batt_mv, "clock_err_us": self.clock_err_us, "clock_trusted": self.clock_trusted,
            "faults": self.faults, "seq_gaps": self.seq_gaps,
            "cap": None if self.cap is None else list(self.cap),
            "hw": self.hw, "board": self.board, "fw": self.fw, "capture_us": self.capture_us,
        }  # fmt: skip


class PodiumTable:
    """The records, and the two maps the view reads (the game's presence and hellos)."""

    def __init__(self) -> None:
        self.podiums: dict[str, PodiumInfo] = {}
        # the game's: podium -> online per its last presence input (absent: none yet), and
        # podium -> what its hello said; what the view shows and replay rebuilds
        self.presence: dict[str, bool] = {}
        self.hellos: dict[str, dict[str, Any]] = {}

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

    def snapshot(self) -> list[PodiumRow]:
        return [self.podiums[p].as_dict() for p in sorted(self.podiums)]

    # ---- the engine's side ----------------------------------------------------------------------
    def set_presence(self, podium: str, online: bool) -> None:
        self.presence[podium] = online

    def set_hello(self, podium: str, fields: dict[str, Any]) -> None:
        """A hello's fields (hw, board, fw, cap_us), as a ``PodiumHello`` input carried them."""
        self.hellos.setdefault(podium, {}).update(fields)
        info = self.get(podium)
        if "hw" in fields:
            info.hw = str(fields["hw"])
        if "board" in fields:
            info.board = str(fields["board"])
        if "fw" in fields:
            info.fw = str(fields["fw"])
        if fields.get("cap_us"):
            info.capture_us = int(fields["cap_us"])
