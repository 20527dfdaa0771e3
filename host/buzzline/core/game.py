"""The game engine: one show's state machine (questions, lockouts, timers, scores, undo), pure.

Podium inputs and operator commands go in with the host time; effects come out. No I/O, no clock,
no unseeded randomness: the same inputs at the same times give the same effects and state, which
is what lets the event log replay a show exactly.

The engine is data and tables: its whole state is one ``Play`` (``core.gamestate``); every
transition is a function of it; commands enter only through ``COMMAND_TABLE`` (name -> handler,
admission phases, arguments) and podium inputs through ``INPUT_TABLE`` (kind -> handler).
``GameEngine`` is the thin front: the clock that never runs backwards, the timers due first,
undo snapshots around a command, and the one ``StateChanged`` when what viewers see changed.

Longer than 400 lines on purpose: every transition of the state machine (the tables below and the
functions that carry them out) stays in one file, so a phase change reads next to its neighbours.
What is not a transition lives apart: the roster (``core.roster``), the light policy
(``core.lightpolicy``), the view (``core.view``) and the state itself (``core.gamestate``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from buzzline.core import events as ev
from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.contract import GAME_PHASES, GamePhase, GameView
from buzzline.core.delays import DelayBook
from buzzline.core.gamestate import GameState, Play, Refused, Snapshot
from buzzline.core.lightpolicy import podium_light, resync_effects, winner_light
from buzzline.core.podiums import PodiumTable
from buzzline.core.roster import (
    _cmd_assign,
    _cmd_rename,
    _cmd_unassign,
    assign_new,
    display_colour,
    eligible,
    seat_of,
    team_of,
)
from buzzline.core.show import Show
from buzzline.core.types import (
    ArbiterEffect,
    Decided,
    Decision,
    FalseStarted,
    LockAll,
    Overturned,
    Press,
    PressRejected,
)
from buzzline.core.view import game_view, state_digest

# Phases and the commands each accepts. Anything else is refused with a reason, state untouched.
#
#   idle ──read──▶ reading ──arm──▶ open ──first buzz decided──▶ answering ──judge ok──▶ judged
#    ▲  └────────arm (read+arm)───────▲ │                         │  │                      │
#    │                                │ └──timeout / window──▶ judged                       │
#    │                                └──judge wrong (others left: reopen; ranked: next in order)
#    └────────────────────────────next (from idle, reading or judged)────────────────────────┘
#   any ──end──▶ ended.   adjust, undo, redo: any phase.   assign/unassign: not while a question is live.
PHASES = GAME_PHASES
_MAX_DELTA = 1_000_000


class GameEngine:
    """The front of one show's state machine: ``handle`` an input, ``tick`` the timers, ``view``."""

    def __init__(self, show: Show, seed: int = 0) -> None:
        g = GameState()
        for p in show.players:
            g.players[p.name] = p
            g.scores[p.name] = 0
            if p.podium is not None:
                g.podiums[p.podium] = p.name
        # the podium table and the observed one-way delays (the arbiter's wait caps) are not
        # undoable: an undo must not make a podium forget it is online
        self.play = Play(show, seed, g)
        self._now = 0
        # The view after the last handle/tick: the "before" of the next one (state changes only
        # there), so a press builds one view, not two (bench e2e: 0.12 ms with 64 podiums).
        self._view_after: GameView | None = None

    # the state's parts, by the names readers use
    @property
    def g(self) -> GameState:
        return self.play.g

    @property
    def show(self) -> Show:
        return self.play.show

    @property
    def seed(self) -> int:
        return self.play.seed

    @property
    def delays(self) -> DelayBook:
        return self.play.delays

    @property
    def podium_table(self) -> PodiumTable:
        return self.play.podiums

    def _clock(self, now_us: int) -> int:
        # host time never runs backwards inside the engine (the arbiter refuses it)
        self._now = max(self._now, now_us)
        return self._now

    # ---- public API -----------------------------------------------------------------------------

    def handle(self, event: ev.Event, now_us: int) -> list[ev.Effect]:
        """Apply one input at host time ``now_us``; timers already due fire first."""
        s = self.play
        now_us = self._clock(now_us)
        if isinstance(event, ev.PodiumWatermark | ev.PodiumPress):
            s.delays.note(event.podium, event.mapped_us, event.err_us, now_us)
        if isinstance(event, ev.PodiumWatermark):
            # The hot path (every heartbeat and lock acknowledgement): a watermark that changes
            # nothing for the arbiter changes nothing viewers see, so skip comparing views.
            out = _due(s, now_us) + _watermark(s, event, now_us)
            if not out:
                return []
            self._view_after = None
            return [*(e for e in out if not isinstance(e, ev.StateChanged)), ev.StateChanged()]
        before = self._view_before()
        out = _due(s, now_us)
        if isinstance(event, ev.Command):
            out += self._command(event, now_us)
        else:
            handler = INPUT_TABLE.get(type(event))
            if handler is None:
                out.append(ev.Logged("unknown_event", {"type": type(event).__name__}))
            else:
                out += handler(s, event, now_us)
        return self._state_changed(out, before)

    def tick(self, now_us: int) -> list[ev.Effect]:
        """Fire what is due at ``now_us``: the arbiter's bounded wait, the buzz window, the answer timer."""
        now_us = self._clock(now_us)
        before = self._view_before()
        return self._state_changed(_due(self.play, now_us), before)

    def next_deadline(self) -> int | None:
        return next_deadline(self.play.g)

    def view(self) -> GameView:
        """Viewer state: ``game_view`` of the engine's own state."""
        s = self.play
        return game_view(s.g, s.show, s.podiums.presence, s.podiums.hellos)

    def state_digest(self) -> str:
        """Comparable fingerprint of the whole game state (two engines fed the same inputs agree)."""
        return state_digest(self.play, self.next_deadline())

    def resync(self) -> list[ev.Effect]:
        """Effects that put every podium's lights and arming back to the current state (after a restart)."""
        return resync_effects(self.play.g, self.play.colour)

    def commands_now(self) -> list[str]:
        """The commands the current phase accepts (a control surface shows these keys)."""
        return [name for name, spec in COMMAND_TABLE.items() if self.play.g.phase in spec.phases]

    def seat_of(self, podium: str) -> int | None:
        """The podium's 1-based seat: its player's position in the show."""
        return seat_of(self.play.g, podium)

    def display_colour(self, player: str) -> str:
        """The colour a player's podium and panels show: the player's, the team's, or the palette's."""
        return display_colour(self.play.g, self.play.show, player)

    def _state_changed(self, out: list[ev.Effect], before: GameView) -> list[ev.Effect]:
        # exactly one StateChanged, last, whenever what viewers see has changed
        out = [e for e in out if not isinstance(e, ev.StateChanged)]
        after = self._view_after = self.view()
        if after != before:
            out.append(ev.StateChanged())
        return out

    def _view_before(self) -> GameView:
        # view() builds fresh containers, so the dict itself is a snapshot to compare with ==
        # (a sorted JSON dump of it cost four times as much: 0.2 ms of every press, bench e2e)
        before, self._view_after = self._view_after, None  # None while this event is handled
        return before if before is not None else self.view()

    def _command(self, cmd: ev.Command, now: int) -> list[ev.Effect]:
        """A command through the table: refused unless known and admitted in this phase; a
        handler's ``Refused`` leaves the state as it was; an undoable one is snapshotted."""
        s = self.play
        name = cmd.name
        spec = COMMAND_TABLE.get(name) if isinstance(name, str) else None
        if spec is None:
            return [
                ev.CommandRefused(str(name), f"unknown command (expected one of: {', '.join(ev.COMMANDS)})")
            ]
        if not isinstance(cmd.args, dict):
            return [ev.CommandRefused(name, "args must be an object")]
        if s.g.phase not in spec.phases:
            why = "the show has ended (undo reopens it)" if s.g.phase == "ended" else spec.why_not
            return [ev.CommandRefused(name, f"not possible while {s.g.phase}: {why}")]
        if not spec.undoable:  # undo and redo move between snapshots themselves
            return spec.handler(s, cmd.args, now)
        before = copy.deepcopy(s.g)
        try:
            out = spec.handler(s, cmd.args, now)
        except Refused as e:
            s.g = before  # a refusal leaves the state exactly as it was
            return [ev.CommandRefused(name, e.reason)]
        s.undo.append(Snapshot(name, now, before))
        s.redo.clear()
        result: list[ev.Effect] = [ev.Logged("command", {"name": name, "args": dict(cmd.args)})]
        result += out
        result.append(ev.StateChanged())
        return result


# ---- timers ------------------------------------------------------------------------------------


def _due(s: Play, now_us: int) -> list[ev.Effect]:
    g = s.g
    out: list[ev.Effect] = []
    if g.arb is not None and g.phase in ("reading", "open"):
        d = g.arb.next_deadline()
        if d is not None and d <= now_us:
            out += _arbiter(s, lambda a: a.tick(now_us), now_us)
    if g.phase == "open" and g.window_deadline is not None and g.window_deadline <= now_us:
        out.append(ev.TimerExpired("buzz"))
        out += _close_window(s, now_us)
    if g.phase == "answering" and g.answer_deadline is not None and g.answer_deadline <= now_us:
        out.append(ev.TimerExpired("answer"))
        out += _wrong(s, now_us, "answer_timeout")
    return out


def next_deadline(g: GameState) -> int | None:
    """The earliest host time a timer of the state is due at (None: no timer runs)."""
    ds: list[int] = []
    if g.arb is not None and g.phase in ("reading", "open"):
        d = g.arb.next_deadline()
        if d is not None:
            ds.append(d)
    if g.phase == "open" and g.window_deadline is not None:
        ds.append(g.window_deadline)
    if g.phase == "answering" and g.answer_deadline is not None:
        ds.append(g.answer_deadline)
    return min(ds) if ds else None


# ---- operator commands (their handlers; the table is at the end) -------------------------------


def _cmd_read(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    out = _new_window(s, now)
    _phase(s, "reading", now)
    question = s.show.question(s.g.q)
    out.append(ev.Light("all", "idle"))
    out.append(ev.Logged("read", {"q": s.g.q, "value": question.value if question else 0}))
    return out


def _cmd_arm(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    g = s.g
    out: list[ev.Effect] = []
    if g.phase == "idle":
        out += _new_window(s, now)
    if not eligible(s.g):
        raise Refused("no podium is assigned to a player who can still buzz")
    if g.arb is None:
        raise Refused("no question in play")
    _phase(s, "open", now)
    out += _arm_effects(s, now)
    out += _arbiter(s, lambda a: a.arm(now, now), now)
    return out


def _cmd_judge(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    correct = args.get("correct")
    if not isinstance(correct, bool):
        raise Refused("judge needs correct: true or false")
    judged = args.get("podium")
    if judged is not None and judged != s.g.answering:
        # the operator judged the answer of the podium the console showed; an earlier press
        # that arrived since (an overturn) made another podium the one answering
        raise Refused(f"the call changed: {s.g.answering} answers now, not {judged}; judge again")
    if not correct:
        return _wrong(s, now, "incorrect")
    g = s.g
    player = g.podiums.get(g.answering or "")
    if player is None:
        raise Refused("the answering podium is no longer assigned to a player")
    value = _value(s)
    g.scores[player] = g.scores.get(player, 0) + value
    g.result = "correct"
    g.winner, g.winner_player = g.answering, player
    g.answer_deadline = None
    _phase(s, "judged", now)
    return [
        ev.Judged(g.answering, player, True, "correct"),
        ev.ScoreChanged(player, value, g.scores[player], "correct"),
        ev.Light("all", "idle"),
        ev.Light(g.answering or "all", "solid", "00ff00", 3000),
    ]


def _cmd_timeout(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    if s.g.phase == "open":
        return _close_window(s, now)
    return _wrong(s, now, "answer_timeout")


def _cmd_next(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    g = s.g
    if s.show.question(g.q + 1) is None:
        raise Refused(f"question {g.q} is the last one in the show: use end")
    g.q += 1
    _reset_question(s)
    _phase(s, "idle", now)
    return [ev.Light("all", "idle")]


def _cmd_adjust(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    player = args.get("player")
    delta = args.get("delta")
    reason = args.get("reason", "")
    if not isinstance(player, str) or player not in s.g.players:
        raise Refused(f"unknown player {player!r}")
    if isinstance(delta, bool) or not isinstance(delta, int) or delta == 0 or abs(delta) > _MAX_DELTA:
        raise Refused(f"delta must be a non-zero integer within ±{_MAX_DELTA}, got {delta!r}")
    if not isinstance(reason, str):
        raise Refused("reason must be text")
    s.g.scores[player] = s.g.scores.get(player, 0) + delta
    return [ev.ScoreChanged(player, delta, s.g.scores[player], reason or "adjust")]


def _cmd_end(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    g = s.g
    out: list[ev.Effect] = []
    if g.phase in ("open", "answering", "reading"):
        out.append(ev.Lock(g.ep, tuple(sorted(g.podiums))))
    g.arb = None
    g.window_deadline = g.answer_deadline = None
    _phase(s, "ended", now)
    out.append(ev.Light("all", "off"))
    return out


def _cmd_undo(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    return _restore(s, s.undo, s.redo, "undo", now)


def _cmd_redo(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    return _restore(s, s.redo, s.undo, "redo", now)


def _restore(s: Play, src: list[Snapshot], dst: list[Snapshot], name: str, now: int) -> list[ev.Effect]:
    if not src:
        return [ev.CommandRefused(name, f"nothing to {name}")]
    snap = src.pop()
    dst.append(Snapshot(snap.name, now, s.g))
    g = copy.deepcopy(snap.game)
    # timers resume with the time they had left when the snapshot was taken
    shift = now - snap.at_us
    if g.window_deadline is not None:
        g.window_deadline += shift
    if g.answer_deadline is not None:
        g.answer_deadline += shift
    s.g = g
    out: list[ev.Effect] = [ev.Logged(name, {"command": snap.name, "phase": g.phase, "q": g.q})]
    return out + resync_effects(s.g, s.colour)


# ---- podium inputs --------------------------------------------------------------------------


def _press(s: Play, e: ev.PodiumPress, now: int) -> list[ev.Effect]:
    g = s.g
    player = g.podiums.get(e.podium)
    if player is None:
        return [ev.Logged("press_ignored", {"podium": e.podium, "seq": e.seq, "reason": "unassigned"})]
    if g.arb is None or not _arbiter_listens(s):
        return [ev.Logged("press_ignored", {"podium": e.podium, "seq": e.seq, "reason": g.phase})]
    if e.mapped_us + e.err_us < g.question_us:
        # Surely pressed before this question began: a buzz delivered late (the podium was
        # cut off and resent it). It belongs to an earlier question, so it is no false start.
        return [ev.Logged("press_ignored", {"podium": e.podium, "seq": e.seq, "reason": "stale"})]
    press = Press(
        podium=e.podium,
        seq=e.seq,
        podium_us=e.podium_us,
        mapped_us=e.mapped_us,
        err_us=e.err_us,
        arrival_us=e.arrival_us,
        trusted=e.trusted,
        team=team_of(s.g, player),
        cap_us=e.cap_us,
    )
    out = _arbiter(s, lambda a: a.press(press, now), now)
    if s.show.rules.mode == "ranked" and not out:
        # accepted into the ranked order: that podium is done for this window
        out = [ev.Light(e.podium, "locked"), ev.Logged("ring_in", {"podium": e.podium, "seq": e.seq})]
    return out


def _watermark(s: Play, e: ev.PodiumWatermark, now: int) -> list[ev.Effect]:
    g = s.g
    if g.arb is None or not _arbiter_listens(s) or e.podium not in g.podiums:
        return []
    fp = None
    if e.fp is not None:
        team = team_of(s.g, g.podiums[e.podium])
        fp = Press(e.podium, e.seq, e.fp, e.fp_mapped_us, e.fp_err_us, now, e.fp_trusted, team)
    return _arbiter(
        s,
        lambda a: a.watermark(
            e.podium, e.seq, e.mapped_us, now, e.err_us, e.lock_ack, fp=fp, np=e.np, gap=e.gap
        ),
        now,
    )


def _arbiter_listens(s: Play) -> bool:
    """Podium inputs go to the arbiter while the window is live, and while an answer rests on
    a provisional decision (an earlier press still in flight may overturn it)."""
    g = s.g
    if g.phase in ("reading", "open"):
        return True
    return g.phase == "answering" and g.arb is not None and g.arb.provisional


def _online(s: Play, e: ev.PodiumOnline, now: int) -> list[ev.Effect]:
    podium, info = e.podium, e.info
    s.podiums.set_presence(podium, True)
    online: list[ev.Effect] = [ev.Logged("online", {"podium": podium})]
    if info:
        s.podiums.set_hello(podium, info)
    # A host started after its podiums never hears their hellos, only their retained presence.
    out = assign_new(s, podium, "presence")
    return [*online, *out, *_podium_light(s, podium), ev.StateChanged()]


def _offline(s: Play, e: ev.PodiumOffline, now: int) -> list[ev.Effect]:
    podium = e.podium
    s.podiums.set_presence(podium, False)
    out: list[ev.Effect] = [ev.Logged("offline", {"podium": podium})]
    g = s.g
    if g.arb is not None and _arbiter_listens(s) and podium in g.podiums:
        out += _arbiter(s, lambda a: a.offline(podium, now), now)
    out.append(ev.StateChanged())
    return out


def _resumed(s: Play, e: ev.HostResumed, now: int) -> list[ev.Effect]:
    """The host restarted mid-question: a press it acknowledged and never logged may exist, so
    every podium that could hold one is waited for until its lock acknowledgement accounts for
    its presses (as after a gap in its sequence)."""
    g = s.g
    if g.arb is None or not _arbiter_listens(s):
        return []
    return _arbiter(s, lambda a: a.resumed(now), now)


def _hello(s: Play, e: ev.PodiumHello, now: int) -> list[ev.Effect]:
    s.podiums.set_hello(e.podium, {"hw": e.hw, "board": e.board, "fw": e.fw, "cap_us": e.cap_us})
    out = assign_new(s, e.podium, "hello")
    out += _podium_light(s, e.podium)
    out.append(ev.StateChanged())
    return out


# ---- arbiter glue ---------------------------------------------------------------------------


def _arbiter(s: Play, call: Callable[[Arbiter], list[ArbiterEffect]], now: int) -> list[ev.Effect]:
    """Call the arbiter and translate its effects; its refusals become a log line, never a crash."""
    g = s.g
    if g.arb is None:
        return []
    try:
        effects = call(g.arb)
    except ValueError as e:
        return [ev.Logged("arbiter_refused", {"reason": str(e), "phase": g.phase})]
    out: list[ev.Effect] = []
    for a in effects:
        if isinstance(a, LockAll):
            g.locked = True
            g.window_deadline = None  # somebody buzzed: the window timer no longer matters
            out.append(ev.Lock(a.epoch, tuple(a.podiums)))
            out.append(ev.Logged("lock", {"epoch": a.epoch, "leader": a.leader}))
        elif isinstance(a, FalseStarted):
            fs = a.false_start
            dur = max(0, (fs.locked_until_us - now) // 1000)
            out.append(ev.Light(fs.podium, "false", None, dur))
            out.append(ev.FalseStartPenalty(fs.podium, fs.mapped_us, dur))
        elif isinstance(a, PressRejected):
            out.append(ev.Logged("press_rejected", {"podium": a.podium, "seq": a.seq, "reason": a.reason}))
        elif isinstance(a, Decided):
            out += _decided(s, a.decision, now)
        elif isinstance(a, Overturned):
            out += _overturned(s, a, now)
    if g.phase == "open" and g.arb is not None and g.arb.phase == "closed" and g.locked:
        # the window ended, every podium was locked and none declared a press of it
        g.result = "timeout"
        out += _finish(s, now, lock=True)
    return out


def _overturned(s: Play, a: Overturned, now: int) -> list[ev.Effect]:
    """An earlier press arrived while the provisional answer was open: the call changes."""
    g = s.g
    d = a.decision
    g.decision = d
    out: list[ev.Effect] = [ev.DecisionOverturned(a.previous, d)]
    if d.winner is None or d.winner not in g.podiums:
        g.result = "tie" if d.is_tie else "no_buzz"
        g.winner = g.winner_player = None
        return out + _finish(s, now, lock=True)
    if d.winner != g.answering:
        out += _answer(s, d.winner, now)  # new answer timer, winner light, viewers
    return out


def _decided(s: Play, d: Decision, now: int) -> list[ev.Effect]:
    g = s.g
    g.decision = d
    g.decisions += 1
    g.window_deadline = None
    out: list[ev.Effect] = [ev.DecisionMade(d)]
    if d.winner is None or d.winner not in g.podiums:
        g.result = "tie" if d.is_tie else "no_buzz"
        out += _finish(s, now, lock=True)
        return out
    out += _answer(s, d.winner, now)
    return out


def _answer(s: Play, podium: str, now: int) -> list[ev.Effect]:
    g = s.g
    g.answering = podium
    g.winner, g.winner_player = podium, g.podiums[podium]
    ms = s.show.rules.answer_ms
    g.answer_deadline = now + ms * 1000 if ms > 0 else None
    _phase(s, "answering", now)
    out: list[ev.Effect] = []
    if not g.locked:
        out.append(ev.Lock(g.ep, tuple(sorted(g.podiums))))
        g.locked = True
    out.append(ev.Light("all", "locked"))
    out.append(winner_light(s.g, podium, s.colour))
    if ms > 0:
        out.append(ev.TimerStarted("answer", ms))
    return out


def _wrong(s: Play, now: int, why: str) -> list[ev.Effect]:
    """An incorrect answer (or the answer timer ran out): penalty, then the next chance."""
    g = s.g
    podium = g.answering
    player = g.podiums.get(podium or "")
    out: list[ev.Effect] = [ev.Judged(podium, player, False, why)]
    if player is not None:
        if s.show.rules.negative:
            value = _value(s)
            g.scores[player] = g.scores.get(player, 0) - value
            out.append(ev.ScoreChanged(player, -value, g.scores[player], why))
        g.locked_out.append(player)
        team = team_of(s.g, player)
        if s.show.rules.mode == "teams" and team is not None:
            for mate, p in g.players.items():
                if p.team == team and mate not in g.locked_out:
                    g.locked_out.append(mate)
    g.answering = None
    g.winner = g.winner_player = None
    g.answer_deadline = None
    g.result = why
    # ranked ring-in: the next player in the recorded order answers, no new buzz needed
    if s.show.rules.mode == "ranked" and g.decision is not None:
        for r in g.decision.order:
            name = g.podiums.get(r.podium)
            if name is not None and name not in g.locked_out:
                return out + _answer(s, r.podium, now)
    if g.arb is None or not eligible(s.g):
        return out + _finish(s, now, lock=False)
    # reopen the question for everyone still in it
    g.locked = False
    g.decision = None
    _phase(s, "open", now)
    out.append(ev.Reopened(g.ep, tuple(g.locked_out)))
    out += _arm_effects(s, now)
    out += _arbiter(s, lambda a: a.reopen(now, exclude=s.g.locked_out_podiums()), now)
    return out


def _close_window(s: Play, now: int) -> list[ev.Effect]:
    g = s.g
    out: list[ev.Effect] = []
    if g.arb is not None:
        out += _arbiter(s, lambda a: a.close(now), now)
    if g.phase == "open":  # the arbiter did not produce a winner: nobody buzzed in time
        g.result = "timeout"
        out += _finish(s, now, lock=True)
    return out


def _finish(s: Play, now: int, lock: bool) -> list[ev.Effect]:
    g = s.g
    out: list[ev.Effect] = []
    if lock and not g.locked:
        out.append(ev.Lock(g.ep, tuple(sorted(g.podiums))))
        g.locked = True
    g.window_deadline = g.answer_deadline = None
    g.answering = None
    _phase(s, "judged", now)
    out.append(ev.Light("all", "idle"))
    out.append(ev.QuestionOver(g.q, g.result))
    return out


# ---- helpers --------------------------------------------------------------------------------


def _new_window(s: Play, now: int) -> list[ev.Effect]:
    g = s.g
    _reset_question(s)
    g.ep += 1
    r = s.show.rules
    if not g.podiums:
        raise Refused("no podium is assigned to a player yet")
    rules = ArbiterRules(
        # teams is first-buzz with one press per team
        mode="ranked" if r.mode == "ranked" else "first",
        tie_rule=r.tie_rule,
        false_start_us=r.false_start_ms * 1000,
        max_wait_us=r.max_wait_ms * 1000,
        window_us=r.buzz_window_ms * 1000 if r.buzz_window_ms > 0 else None,
        one_per_team=r.mode == "teams",
    )
    eligible = {pid: team_of(s.g, name) for pid, name in sorted(g.podiums.items())}
    # one seed per epoch, derived from the show seed: a replay draws the same tie-breaks
    g.arb = Arbiter(
        epoch=g.ep,
        eligible=eligible,
        rules=rules,
        seed=s.seed * 1_000_003 + g.ep,
        wait_caps={p: c for p, c in s.delays.caps().items() if p in eligible},
    )
    g.question_us = now
    out: list[ev.Effect] = []
    for pid in sorted(g.podiums):
        if s.podiums.presence.get(pid) is False:
            out += _arbiter(s, lambda a, pid=pid: a.offline(pid, now), now)  # type: ignore[misc]
    return out


def _reset_question(s: Play) -> None:
    g = s.g
    g.arb = None
    g.locked_out = []
    g.decision = None
    g.answering = None
    g.winner = g.winner_player = None
    g.result = ""
    g.locked = False
    g.window_deadline = g.answer_deadline = None


def _arm_effects(s: Play, now: int) -> list[ev.Effect]:
    g = s.g
    ms = s.show.rules.buzz_window_ms
    g.window_deadline = now + ms * 1000 if ms > 0 else None
    out: list[ev.Effect] = [ev.Arm(g.ep), ev.Light("all", "armed")]
    out += [ev.Light(pid, "locked") for pid in s.g.locked_out_podiums()]
    if ms > 0:
        out.append(ev.TimerStarted("buzz", ms))
    return out


def _podium_light(s: Play, podium: str) -> list[ev.Effect]:
    return [podium_light(s.g, podium, s.colour)]


def _phase(s: Play, phase: GamePhase, now: int) -> None:
    s.g.phase = phase
    s.g.ts = now


def _value(s: Play) -> int:
    q = s.show.question(s.g.q)
    return q.value if q else s.show.rules.default_value


# ---- the command table -------------------------------------------------------------------------
#
# Every operator command: its handler, the phases it is admitted in (the state machine above), and
# why it is refused in the others. Its arguments are ``events.COMMAND_ARGS[name]`` (checked before
# the engine sees them, ``core.commandargs``). Outside its phases a command is refused with the
# reason and the state untouched; a handler that raises ``Refused`` leaves it untouched too.

Handler = Callable[[Play, dict[str, Any], int], list[ev.Effect]]


@dataclass(frozen=True)
class CommandSpec:
    name: str
    handler: Handler
    phases: tuple[GamePhase, ...]
    why_not: str = ""  # why it is refused outside ``phases``
    undoable: bool = True  # False for undo and redo themselves
    args: frozenset[str] = frozenset()


def _command(name: str, handler: Handler, phases: tuple[GamePhase, ...], why_not: str = "") -> CommandSpec:
    return CommandSpec(name, handler, phases, why_not, name not in ("undo", "redo"), ev.COMMAND_ARGS[name])


_ROSTER: tuple[GamePhase, ...] = ("idle", "judged", "ended")
_LIVE = "while a question is in play"
COMMAND_TABLE: dict[str, CommandSpec] = {
    spec.name: spec
    for spec in (
        _command("read", _cmd_read, ("idle",), "a question is already in play: judge it or use next"),
        _command(
            "arm",
            _cmd_arm,
            ("idle", "reading"),
            "the buzzers can only be armed from idle or reading",
        ),
        _command("judge", _cmd_judge, ("answering",), "nobody is answering"),
        _command(
            "timeout",
            _cmd_timeout,
            ("open", "answering"),
            "no buzz window or answer timer is running",
        ),
        _command(
            "next",
            _cmd_next,
            ("idle", "reading", "judged"),
            "the question is live: judge it or time it out first",
        ),
        _command("adjust", _cmd_adjust, PHASES),
        _command("assign", _cmd_assign, _ROSTER, f"podiums cannot be reassigned {_LIVE}"),
        _command("unassign", _cmd_unassign, _ROSTER, f"podiums cannot be unassigned {_LIVE}"),
        _command("rename", _cmd_rename, _ROSTER, f"players cannot be renamed {_LIVE}"),
        _command("undo", _cmd_undo, PHASES),
        _command("redo", _cmd_redo, PHASES),
        _command(
            "end",
            _cmd_end,
            ("idle", "reading", "open", "answering", "judged"),
            "the show has already ended",
        ),
    )
}
# public for control surfaces and API docs: the phases each command works in, and why not otherwise
COMMAND_PHASES = {name: spec.phases for name, spec in COMMAND_TABLE.items()}
COMMAND_REFUSAL = {name: spec.why_not for name, spec in COMMAND_TABLE.items() if spec.why_not}

# ---- the input table: each podium input's handler (commands go through COMMAND_TABLE) ----------

InputHandler = Callable[[Play, Any, int], list[ev.Effect]]
INPUT_TABLE: dict[type, InputHandler] = {
    ev.PodiumPress: _press,
    ev.PodiumWatermark: _watermark,
    ev.PodiumOnline: _online,
    ev.PodiumOffline: _offline,
    ev.PodiumHello: _hello,
    ev.HostResumed: _resumed,
}
