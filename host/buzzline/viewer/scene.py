"""What the viewer screen shows, pure: game views and notice events in, a scene out, time passed in.

The pygame scoreboard and the browser overlay draw the same ``Scene.snapshot(now_ms)``, so what
the audience sees in the studio and on the stream never disagree. Inputs are the view a notice
carries (or a ``game/state`` message) and the notice's events (SPEC §3.9, plus the viewer-local
``link`` event: ``{"k": "link", "broker": bool, "host": bool}``) and the audience adapter's
screen info (`apply_audience`: the join code and link, the question, its answers' spread, the
leaderboard's top). Times are the viewer's own monotonic milliseconds: a false start shows for
its lockout from when the viewer heard of it, a timer drains from when it started here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

# The ring-in animation's length: the winner's panel swells and settles.
RING_MS = 700.0
PHASE_LABELS = {
    "idle": "",
    "reading": "QUESTION",
    "open": "BUZZERS OPEN",
    "answering": "ANSWERING",
    "judged": "",
    "ended": "FINAL SCORES",
}
TIMER_PHASE = {"buzz": "open", "answer": "answering"}
# The host's presence is only known a moment after connecting: "gone" shows after this long.
HOST_GRACE_MS = 1000.0
AUDIENCE_TOP = 5  # players of the audience's leaderboard on a screen


def _int(x: Any, default: int = 0) -> int:
    return x if isinstance(x, int) and not isinstance(x, bool) else default


def _dict(x: Any) -> dict[str, Any]:
    return x if isinstance(x, dict) else {}


def _text(x: Any) -> str:
    return x if isinstance(x, str) else ""


class Scene:
    """The latest view plus what only events tell (false starts, timers, ties, the link)."""

    def __init__(self) -> None:
        self.view: dict[str, Any] = {}
        self.false_starts: dict[str, tuple[float, float]] = {}  # podium -> (from, until) ms
        self.timer: tuple[str, float, float] | None = None  # name, started ms, length ms
        self.tie: dict[str, Any] | None = None
        self._tie_key: tuple[int, int] | None = None
        self.rung_at: float | None = None  # when the current winner rang in
        self._winner_key: tuple[int, int, str] | None = None
        self.broker_ok: bool | None = None  # None: not watched (in the host)
        self.host_ok: bool | None = None
        self._host_down_at = 0.0
        self.audience: dict[str, Any] | None = None  # the audience adapter's screen info
        self.version = 0  # bumped on every change that shows

    # ---- inputs ----------------------------------------------------------------------------------
    def apply_view(self, view: Mapping[str, Any], now_ms: float) -> None:
        had_view = bool(self.view)
        self.view = dict(view)
        phase = self.view.get("phase")
        if self.timer is not None and TIMER_PHASE.get(self.timer[0]) != phase:
            self.timer = None
        winner = self.view.get("winner")
        key = (_int(self.view.get("q")), _int(self.view.get("ep")), _text(winner))
        if isinstance(winner, str) and winner:
            if key != self._winner_key:
                # no animation for a winner already standing when the viewer starts
                self.rung_at = now_ms if had_view else None
        else:
            self.rung_at = None
        self._winner_key = key
        if self.tie is not None and self._tie_key != key[:2]:
            self.tie = None
        self.version += 1

    def apply_event(self, e: Mapping[str, Any], now_ms: float) -> None:
        k = e.get("k")
        if k == "false_start":
            pid = _text(e.get("podium"))
            if pid:
                self.false_starts[pid] = (now_ms, now_ms + max(0, _int(e.get("lockout_ms"))))
        elif k == "timer_started":
            name = _text(e.get("timer"))
            if name in TIMER_PHASE:
                self.timer = (name, now_ms, float(max(1, _int(e.get("ms")))))
        elif k == "timer_expired":
            if self.timer is not None and self.timer[0] == e.get("timer"):
                self.timer = None
        elif k == "tie":
            podiums = [p for p in e.get("podiums", []) if isinstance(p, str)]
            self.tie = {"podiums": podiums, "rule": _text(e.get("rule")), "winner": e.get("winner")}
            self._tie_key = (_int(self.view.get("q")), _int(self.view.get("ep")))
        elif k == "link":
            if "broker" in e:
                self.broker_ok = bool(e["broker"])
            if "host" in e:
                if not e["host"] and self.host_ok is not False:
                    self._host_down_at = now_ms
                self.host_ok = bool(e["host"])
        else:
            return
        self.version += 1

    def apply_audience(self, info: Mapping[str, Any]) -> None:
        """The audience adapter's `screen()` (or ``{"code": ..., "gone": True}``: it stopped)."""
        code = _text(info.get("code"))
        if info.get("gone"):
            if self.audience is not None and self.audience.get("code") == code:
                self.audience = None
                self.version += 1
            return
        if code:
            self.audience = dict(info)
            self.version += 1

    def apply_notice(
        self, view: Mapping[str, Any] | None, events: Iterable[Mapping[str, Any]], now_ms: float
    ) -> None:
        """One notice: the view it carries (the state after its events), then its events."""
        if view:
            self.apply_view(view, now_ms)
        for e in events:
            self.apply_event(e, now_ms)

    def tick(self, now_ms: float) -> bool:
        """Expire what ran out; True when that changed the scene."""
        changed = False
        for pid, (_, until) in list(self.false_starts.items()):
            if now_ms >= until:
                del self.false_starts[pid]
                changed = True
        if self.timer is not None and now_ms >= self.timer[1] + self.timer[2]:
            self.timer = None
            changed = True
        if changed:
            self.version += 1
        return changed

    def animating(self, now_ms: float) -> bool:
        """Whether frames differ from one to the next (the ring-in animation or a timer draining)."""
        ringing = self.rung_at is not None and now_ms - self.rung_at < RING_MS
        return ringing or self.timer is not None

    # ---- output ----------------------------------------------------------------------------------
    def snapshot(self, now_ms: float) -> dict[str, Any]:
        """Everything the screen shows, as plain JSON-able values."""
        v = self.view
        info = _dict(v.get("info"))
        scores = _dict(v.get("scores"))
        pinfo = _dict(info.get("podiums"))
        winner = _text(v.get("winner"))
        locked_out = {p for p in info.get("locked_out", []) if isinstance(p, str)}
        order = (
            [o for o in v.get("order", []) if isinstance(o, dict)] if isinstance(v.get("order"), list) else []
        )
        rank = {_text(o.get("podium")): i + 1 for i, o in enumerate(order)}
        gaps = {_text(o.get("podium")): _int(o.get("gap_us")) / 1000 for o in order}
        panels = []
        for pid, p in pinfo.items():
            if not isinstance(p, dict) or not _text(p.get("player")):
                continue  # an unassigned podium does not play
            player = _text(p.get("player"))
            fs = self.false_starts.get(pid)
            panels.append(
                {
                    "podium": pid,
                    "player": player,
                    "seat": _int(p.get("seat"), 999),
                    "col": _text(p.get("col")) or "888888",
                    "team": p.get("team") if isinstance(p.get("team"), str) else None,
                    "score": _int(scores.get(player)),
                    "online": p.get("online") is not False,
                    "winner": pid == winner,
                    "dimmed": bool(winner) and pid != winner,
                    "rank": rank.get(pid),
                    "gap_ms": gaps.get(pid),
                    "locked_out": pid in locked_out,
                    "false_start_ms": max(0.0, fs[1] - now_ms) if fs else None,
                }
            )
        panels.sort(key=lambda x: (x["seat"], x["podium"]))
        by_pid = {p["podium"]: p for p in panels}
        ring = []
        for o in order:
            pid = _text(o.get("podium"))
            ring.append(
                {
                    "podium": pid,
                    "player": _text(o.get("player")) or by_pid.get(pid, {}).get("player") or pid,
                    "col": by_pid.get(pid, {}).get("col", "888888"),
                    "gap_ms": _int(o.get("gap_us")) / 1000,
                    "err_ms": _int(o.get("err_us")) / 1000,
                }
            )
        win = None
        if winner:
            wp = by_pid.get(winner, {})
            win = {
                "podium": winner,
                "player": _text(info.get("winner_player")) or wp.get("player") or winner,
                "col": wp.get("col", "888888"),
                "team": wp.get("team"),
            }
        tie = None
        if self.tie is not None:
            names = [by_pid.get(p, {}).get("player") or p for p in self.tie["podiums"]]
            tie = {"players": names, "rule": self.tie["rule"]}
        timer = None
        if self.timer is not None:
            name, began, length = self.timer
            timer = {"name": name, "left_ms": max(0.0, began + length - now_ms), "total_ms": length}
        teams: dict[str, dict[str, Any]] = {}
        for p in panels:
            team = p["team"]
            if isinstance(team, str) and team:
                t = teams.setdefault(team, {"name": team, "score": 0, "col": p["col"]})
                t["score"] += p["score"]
        phase = _text(v.get("phase"))
        return {
            "title": _text(info.get("title")),
            "round": _text(info.get("round")),
            "q": _int(v.get("q")),
            "questions": info.get("questions") if isinstance(info.get("questions"), int) else None,
            "value": _int(info.get("value")),
            "phase": phase,
            "phase_label": PHASE_LABELS.get(phase, phase.upper()),
            "panels": panels,
            "order": ring,
            "winner": win,
            "tie": tie,
            "timer": timer,
            "teams": sorted(teams.values(), key=lambda t: t["name"]),
            "banner": self.banner(now_ms),
            "ring_ms": None if self.rung_at is None else max(0.0, now_ms - self.rung_at),
            "audience": audience_snapshot(self.audience),
            "version": self.version,
        }

    def banner(self, now_ms: float) -> str | None:
        if self.broker_ok is False:
            return "Lost the broker: reconnecting"
        if self.host_ok is False and now_ms - self._host_down_at >= HOST_GRACE_MS:
            return "The host has gone: waiting for it to return"
        return None


def shares(counts: list[int]) -> list[int]:
    """Each count's share in whole percent (as the phone page rounds them)."""
    total = sum(counts)
    return [int(100 * n / total + 0.5) if total else 0 for n in counts]


def audience_snapshot(info: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The audience's part of the screen: the join code and link, the question (open, or with
    its answers' spread once the results are out) and the leaderboard's top."""
    if info is None:
        return None
    question = _dict(info.get("question"))
    results = _dict(info.get("results"))
    rq = _int(results.get("q"), -1)
    shown = question
    spread = bool(results) and (not question or rq >= _int(question.get("q")))
    if spread and rq != _int(question.get("q"), -2):
        shown = _dict(results.get("question"))  # results of a question this screen never saw open
    labels = [c for c in shown.get("choices", []) if isinstance(c, str)] if shown else []
    counts = [_int(n) for n in results.get("counts", [])] if spread else []
    if spread and len(counts) != len(labels):
        labels = labels[: len(counts)] + [f"#{i + 1}" for i in range(len(labels), len(counts))]
    pct = shares(counts)
    correct = results.get("correct") if spread else None
    choices = [
        {
            "label": label,
            "count": counts[i] if spread else None,
            "pct": pct[i] if spread else None,
            "right": spread and correct == i,
        }
        for i, label in enumerate(labels)
    ]
    board = [r for r in info.get("board", []) if isinstance(r, dict)][:AUDIENCE_TOP]
    return {
        "code": _text(info.get("code")),
        "join_url": _text(info.get("join_url")),
        "q": _int(shown.get("q")) if shown else 0,
        "question": _text(shown.get("text")) if shown else "",
        "open": bool(shown) and not spread and not shown.get("closed"),
        "results": spread,
        "answers": _int(results.get("answers")) if spread else 0,
        "choices": choices,
        "board": [{"nick": _text(r.get("nick")), "points": _int(r.get("points"))} for r in board],
        "players": _int(info.get("players")),
    }


def state_events(doc: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A ``--render`` input: a ``game/state`` message, or ``{"state": {...}, "events": [...]}``
    where each event is a notice event (``{"k": ...}``) or a wire ``event`` message (``d`` inside).
    ValueError with the reason when it is neither."""
    if not isinstance(doc, dict):
        raise ValueError("expected a JSON object (a game/state message, or {state, events})")
    state = doc.get("state", doc) if "state" in doc else doc
    if not isinstance(state, dict) or "phase" not in state:
        raise ValueError("no game state: expected the fields of a game/state message (phase, q, ...)")
    raw = doc.get("events", [])
    if not isinstance(raw, list):
        raise ValueError("events must be a list")
    events = []
    for i, e in enumerate(raw):
        if not isinstance(e, dict) or not isinstance(e.get("k"), str):
            raise ValueError(f"events[{i}]: expected an object with a kind 'k'")
        d = e.get("d")
        events.append({"k": e["k"], **d} if isinstance(d, dict) else dict(e))
    view = {k: v for k, v in state.items() if k not in ("v", "t")}
    return view, events
