"""What the stage shows, followed from notices: each podium's light as its firmware shows it, and
the game's flags. Pure (notices and host time in, happenings out); shared by the ``osc`` and
``dmx-usbpro`` adapters, which turn happenings into OSC messages or DMX levels.

A happening is ``(trigger, context)``:
- event triggers, once per occurrence: ``question``, ``phase``, ``armed``, ``reopened``, ``locked``,
  ``winner``, ``no_winner``, ``false_start``, ``judged_right``, ``judged_wrong``, ``timeout``,
  ``score``, ``colour`` (a seat's colour first seen or changed), ``assigned``;
- flag transitions ``set:<flag>`` / ``clear:<flag>``, global flags ``armed`` (buzzers live),
  ``open``, ``reading``, ``answering``, ``judged``, ``judged_right``, ``judged_wrong``, and per
  seat ``seat.<pattern>`` for the light pattern the podium shows (``seat.winner``,
  ``seat.locked``, ``seat.false``, ``seat.armed``, ``seat.idle``...).

The context holds ``seat`` ``podium`` ``player`` ``team`` ``r`` ``g`` ``b`` (0-255) ``rf`` ``gf`` ``bf``
(0.0-1.0) ``score`` ``gap_ms`` ``phase`` ``q`` where they apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from buzzline.adapters.api import GameView, Notice, PodiumView, podiums_of

FALSE_FLASH_MS = 1500  # as the firmware: a false start without a duration flashes this long
GLOBAL_FLAGS = ("armed", "open", "reading", "answering", "judged", "judged_right", "judged_wrong")
PATTERNS = ("off", "idle", "armed", "winner", "locked", "false", "identify", "solid", "blink")
EVENT_TRIGGERS = (
    "question",
    "phase",
    "armed",
    "reopened",
    "locked",
    "winner",
    "no_winner",
    "false_start",
    "judged_right",
    "judged_wrong",
    "timeout",
    "score",
    "colour",
    "assigned",
)
FLAGS = GLOBAL_FLAGS + tuple(f"seat.{p}" for p in PATTERNS)


class Happening(NamedTuple):
    trigger: str  # an event trigger, or "set:<flag>" / "clear:<flag>"
    ctx: dict[str, Any]


class Light(NamedTuple):
    pattern: str
    col: str | None
    until_us: int | None = None  # a temporary pattern (false start, a timed solid) ends then
    base: tuple[str, str | None] | None = None  # what shows after it


def rgb(col: str | None) -> tuple[int, int, int]:
    if not col or len(col) != 6:
        return 0, 0, 0
    try:
        return int(col[0:2], 16), int(col[2:4], 16), int(col[4:6], 16)
    except ValueError:
        return 0, 0, 0


class Stage:
    """Follows notices. ``apply`` returns the happenings of one notice; ``expire`` those of lights
    whose temporary pattern ran out; ``snapshot`` every flag as it stands (to resync a desk)."""

    def __init__(self) -> None:
        self.view: GameView = {}
        self.lights: dict[str, Light] = {}
        self.flags: dict[tuple[str, int | None], bool] = {}
        self._judged: bool | None = None  # the last judgement of this question
        self._armed = False
        self._colours: dict[int, str] = {}
        self._started = False

    # ---- lookups ---------------------------------------------------------------------------------
    def podiums(self) -> dict[str, PodiumView]:
        return podiums_of(self.view)

    def seat_of(self, podium: str | None) -> int | None:
        seat = self.podiums().get(podium or "", {}).get("seat")
        return seat if isinstance(seat, int) else None

    def context(self, podium: str | None = None, seat: int | None = None) -> dict[str, Any]:
        """The template context for a podium (or a seat) in the current view."""
        ctx: dict[str, Any] = {"phase": self.view.get("phase", ""), "q": self.view.get("q", 0)}
        if podium is None and seat is not None:
            podium = next((p for p, i in self.podiums().items() if i.get("seat") == seat), None)
        if podium is None:
            if seat is not None:
                ctx["seat"] = seat
            return ctx
        info = self.podiums().get(podium, {})
        player = info.get("player") or ""
        r, g, b = rgb(info.get("col"))
        ctx.update(
            podium=podium,
            player=player,
            team=info.get("team") or "",
            r=r,
            g=g,
            b=b,
            rf=round(r / 255, 4),
            gf=round(g / 255, 4),
            bf=round(b / 255, 4),
            score=self.view.get("scores", {}).get(player, 0),
        )
        seat = info.get("seat") if seat is None else seat
        if isinstance(seat, int):
            ctx["seat"] = seat
        return ctx

    def seats(self) -> dict[int, str]:
        """Seat -> podium for every assigned podium."""
        return {seat: p for p, i in self.podiums().items() if isinstance(seat := i.get("seat"), int)}

    def shown(self, podium: str, now_us: int) -> tuple[str, str | None]:
        """The pattern and colour a podium shows at ``now_us``."""
        light = self.lights.get(podium)
        if light is None:
            return "idle", self.podiums().get(podium, {}).get("col")
        if light.until_us is not None and now_us >= light.until_us and light.base is not None:
            return light.base
        return light.pattern, light.col

    # ---- following notices -----------------------------------------------------------------------
    def apply(self, notice: Notice, now_us: int) -> list[Happening]:
        """The happenings of one notice. The first notice a stage sees only sets the state: its
        events are from before the adapter started, so they fire nothing."""
        self.view = notice.view
        if "phase" not in self.view:
            return []  # no game state yet (a remote adapter before the retained game/state)
        first = not self._started
        self._started = True
        out: list[Happening] = []
        if first:
            self._lights_from_view()
        for e in notice.events:
            out += self._event(e, now_us)
        if first:
            out = []
        out += self._colour_changes(fire=not first)
        return out + self._flag_changes(now_us)

    @property
    def started(self) -> bool:
        """Whether a notice with the game state has been seen."""
        return self._started

    def expire(self, now_us: int) -> list[Happening]:
        for pid, light in list(self.lights.items()):
            if light.until_us is not None and now_us >= light.until_us and light.base is not None:
                self.lights[pid] = Light(light.base[0], light.base[1])
        return self._flag_changes(now_us)

    def next_deadline(self) -> int | None:
        ds = [x.until_us for x in self.lights.values() if x.until_us is not None]
        return min(ds) if ds else None

    def snapshot(self) -> list[Happening]:
        """Every known flag as ``set:``/``clear:`` (sent to a desk when it (re)connects)."""
        out = []
        for (flag, seat), on in sorted(self.flags.items(), key=lambda kv: (kv[0][0], kv[0][1] or 0)):
            ctx = self.context(seat=seat) if seat is not None else self.context()
            out.append(Happening(("set:" if on else "clear:") + flag, ctx))
        for _, pid in sorted(self.seats().items()):
            out.append(Happening("colour", self.context(pid)))
        return out

    def _event(self, e: Mapping[str, Any], now_us: int) -> list[Happening]:
        k = e.get("k")
        podium = e.get("podium") if isinstance(e.get("podium"), str) else None
        ctx = self.context(podium)
        if k == "question":
            self._judged = None
            return [Happening("question", ctx)]
        if k == "phase":
            if e.get("phase") != "open":
                self._armed = False
            return [Happening("phase", ctx)]
        if k in ("armed", "reopened"):
            self._armed = True
            return [Happening(k, ctx)]
        if k == "locked":
            self._armed = False
            return [Happening("locked", ctx)]
        if k == "winner":
            order = e.get("order") or []
            gap = order[1].get("gap_us", 0) if len(order) > 1 and isinstance(order[1], dict) else 0
            ctx["gap_ms"] = round(gap / 1000, 3) if isinstance(gap, int | float) else 0
            return [Happening("winner", ctx)]
        if k == "no_winner":
            return [Happening("no_winner", ctx)]
        if k == "false_start":
            return [Happening("false_start", ctx)]
        if k == "judged":
            self._judged = bool(e.get("correct"))
            return [Happening("judged_right" if self._judged else "judged_wrong", ctx)]
        if k == "timer_expired":
            ctx["timer"] = e.get("timer", "")
            return [Happening("timeout", ctx)]
        if k == "score":
            player = e.get("player")
            pid = next((p for p, i in self.podiums().items() if i.get("player") == player), None)
            ctx = self.context(pid) if pid else self.context()
            ctx.update(player=player or "", score=e.get("total", 0), delta=e.get("delta", 0))
            return [Happening("score", ctx)]
        if k == "assigned":
            return [Happening("assigned", ctx)]
        if k == "light":
            self._light(e, now_us)
        return []

    def _light(self, e: Mapping[str, Any], now_us: int) -> None:
        target = e.get("podium")
        pat = e.get("pat")
        if not isinstance(pat, str) or not isinstance(target, str):
            return
        col = e.get("col") if isinstance(e.get("col"), str) else None
        dur = e.get("dur") or 0
        pids = list(self.podiums()) if target == "all" else [target]
        for pid in pids:
            own = self.podiums().get(pid, {}).get("col")
            if (isinstance(dur, int) and dur > 0) or pat == "false":
                ms = dur if isinstance(dur, int) and dur > 0 else FALSE_FLASH_MS
                before = self.lights.get(pid)
                base = (before.pattern, before.col) if before and before.until_us is None else ("idle", own)
                if pat == "false" and not (isinstance(dur, int) and dur > 0):
                    base = ("locked", own)
                self.lights[pid] = Light(pat, col or own, now_us + ms * 1000, base)
            else:
                self.lights[pid] = Light(pat, col or own)

    def _lights_from_view(self) -> None:
        """The light each podium shows, from the view alone (as the engine's light policy does)."""
        v = self.view
        phase = v.get("phase")
        out = set(v.get("info", {}).get("locked_out") or [])
        for pid, info in self.podiums().items():
            player = info.get("player")
            if not player:
                pat = "identify"
            elif phase == "answering" and v.get("winner") == pid:
                pat = "winner"
            elif phase == "open" and player not in out:
                pat = "armed"
            elif phase in ("open", "answering"):
                pat = "locked"
            else:
                pat = "off" if phase == "ended" else "idle"
            self.lights[pid] = Light(pat, info.get("col"))
        self._armed = phase == "open"

    def _colour_changes(self, fire: bool) -> list[Happening]:
        out = []
        for seat, pid in sorted(self.seats().items()):
            col = self.podiums()[pid].get("col") or ""
            if self._colours.get(seat) != col:
                self._colours[seat] = col
                if fire:
                    out.append(Happening("colour", self.context(pid)))
        return out

    def _flag_changes(self, now_us: int) -> list[Happening]:
        phase = self.view.get("phase")
        now: dict[tuple[str, int | None], bool] = {
            ("armed", None): phase == "open" and self._armed,
            ("open", None): phase == "open",
            ("reading", None): phase == "reading",
            ("answering", None): phase == "answering",
            ("judged", None): phase == "judged",
            ("judged_right", None): self._judged is True,
            ("judged_wrong", None): self._judged is False,
        }
        for seat, pid in self.seats().items():
            shown = self.shown(pid, now_us)[0]
            for pat in PATTERNS:
                now[(f"seat.{pat}", seat)] = shown == pat
        clears: list[Happening] = []
        sets: list[Happening] = []
        for key in sorted(now, key=lambda k: (k[0], k[1] or 0)):
            on = now[key]
            if self.flags.get(key) == on:
                continue
            known = key in self.flags
            self.flags[key] = on
            if not known and not on:
                continue  # a flag first seen clear has nothing to clear
            flag, at = key
            ctx = self.context(seat=at) if at is not None else self.context()
            (sets if on else clears).append(Happening(("set:" if on else "clear:") + flag, ctx))
        out = clears + sets  # what goes dark first, then what lights up
        # seats that left the show: their flags are forgotten
        for key in [k for k in self.flags if k[1] is not None and k not in now]:
            del self.flags[key]
        return out
