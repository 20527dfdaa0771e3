"""Fair arbitration of one question: orders presses by mapped press time, never by arrival.

(Over 400 lines: one state machine whose phases, completeness rule and overturn share their
invariants; split, each half would have to re-derive the other's state.)

API CONTRACT (stable; implemented by the timing-core work, consumed by the game engine):

    rules = ArbiterRules(mode="first", tie_rule="earliest", false_start_us=250_000, max_wait_us=..., ...)
    arb = Arbiter(epoch=7, eligible={"p1": "red", "p2": None}, rules=rules, seed=42)
    arb.press(press, now_us)              # unarmed phase: a press is a false start (250 ms lockout each)
    arb.arm(arm_us, now_us)               # opens the window at arm_us (host time)
    arb.press(press, now_us)              # -> [LockAll(...)] on the first valid arrival, maybe [Decided]
    arb.watermark("p2", seq, mapped_us, now_us, err_us)  # heartbeat heard in sequence: p2 is past mapped_us
    arb.watermark("p2", seq, mapped_us, now_us, err_us, lock_ack=True)  # p2 acknowledged this lock
    arb.watermark("p2", seq, mapped_us, now_us, err_us, lock_ack=True, fp=press, np=1)  # ... and
                                          # declared its presses this epoch (earliest, count)
    arb.watermark("p2", seq, mapped_us, now_us, gap=True)  # upstream messages before seq are missing
    arb.offline("p3", now_us)
    arb.tick(now_us)                      # -> [Decided(...)] when the bounded wait expires
    arb.press(press, now_us)              # after a provisional decision: maybe [Overturned(...)]
    arb.next_deadline()                   # host time of the next tick that can change anything, or None
    arb.reopen(now_us, exclude={"p1"})    # after an incorrect answer: new window for the others
    arb.close(now_us)                     # stop accepting presses (e.g. the buzz window timed out)

Every method returns ``list[ArbiterEffect]`` and is pure: no I/O, no clocks, no global state;
random tie draws come from ``random.Random(seed)`` and are recorded in the evidence.

PHASES AND TRANSITIONS (anything not listed raises ValueError and leaves the state untouched;
``now_us`` must never go backwards, also a ValueError):

    phase     press                                  arm       tick                   reopen   close
    unarmed   FalseStarted (lockout from the press)  -> armed  -                      -        -> closed
    armed     first: LockAll, -> locked              -         window end: first:     -        -> closed
              ranked: collect; all pressed -> decided          LockAll, -> asking;
                                                               ranked: -> closed or
                                                               -> decided
    asking    in the window: collect, -> locked;     -         wait cap -> closed     -        -> closed
              after it: PressRejected("closed")
    locked    collect; final condition -> decided    -         wait cap -> decided    -        -> decided
    decided   provisional: earlier -> Overturned     -         -                      -> armed -> closed
              else PressRejected("late")
    closed    PressRejected("closed")                -         -                      -> armed -> closed

(``core.contract.ArbiterPhase``; the game's own phases, ``GamePhase``, are other names: the game
is ``open`` from arm until a winner answers, through the arbiter's armed, locked and decided.)

``watermark`` and ``offline`` are legal in every phase (they may make a locked window final, or
end an asking one: every podium acknowledged the lock with no press, or is offline).

Rules:
- A press before the arm instant (unarmed phase, or mapped_us + err_us < arm_us) is a false
  start: its podium is locked out until
  ``mapped_us + false_start_us``; every early press renews that. Presses inside a lockout are
  rejected ("false_start"); podiums excluded by ``reopen`` are rejected ("locked_out").
- Same (podium, seq) twice: PressRejected("duplicate"), in any phase and across reopens.
- One press per podium per window (the first valid one); with ``one_per_team`` one per team: the
  earliest mapped press of the team counts, a teammate's later press is "team_taken".
- "first" mode is final when every other eligible podium that could still beat or tie the leader
  has a watermark (minus its error) past the leader's mapped time plus error, has acknowledged
  this window's lock (``watermark(..., lock_ack=True)``: the lock left the host after the first
  buzz arrived, so after the leader's press, and the podium sent every press captured before the
  lock ahead of its acknowledgement, so nothing that can win is still on its way), has pressed, is
  offline, or is locked out past that time.
- "first" mode, a window that ends with no press: every podium is locked all the same and the
  window is "asking": the acknowledgements declare each podium's presses (``np``/``fp``), so a
  buzz a broker acknowledged and then lost in a crash is recovered (see below) and decided on.
  Once every podium has acknowledged with none (or is offline), or at ``max_wait_us`` after the
  window's end, it is closed with no decision.
- An offline podium is not waited for (it may stay away for good), but it may have pressed while
  its link was down: that press waits in its outbox with its edge's timestamp and arrives when it
  is back. So a decision made while such a podium could still hold an earlier press stays
  provisional (no flag: it was not a timeout) until the podium is heard past the leader, and an
  earlier press from it overturns the decision while the answer is open.
- The wait for the podiums still missing is capped per podium: a press from podium p that could
  beat the leader was sent by the leader's mapped time plus error, so it arrives within p's wait
  cap after that (``wait_caps[p]``: a high percentile of p's observed one-way delay plus its
  bound, from ``buzzline.core.delays``; ``max_wait_us`` when unknown); never later than
  ``max_wait_us`` after the first valid arrival (the absolute cap). When the cap expires the
  decision is made, flagged "timeout" and "provisional" (and "gap_open" when a podium still
  missing had lost messages). A provisional decision becomes final once the missing podiums are
  complete. Until then a press that arrives and would change the winner or the tie (an earlier
  press that was still in flight) overturns it: ``Overturned(previous, decision)``, the new
  decision flagged "overturned"; other late presses are PressRejected("late").
- End-to-end completeness (protocol ``ack.fp``/``ack.np``): a podium with an open sequence gap
  (``gap=True``: upstream messages went missing, maybe a buzz) is not complete, whatever its
  watermarks say, until a lock acknowledgement declares its presses this epoch (``np``) and all
  of them are accounted for; a declared earliest press (``fp``) the arbiter never received is
  recovered from the acknowledgement as if it had arrived then (evidence "recovered").
  "ranked" mode is final when every eligible podium (team) has pressed, or at ``window_us`` after
  arm (flag "timeout" when someone had not pressed).
- Presses whose mapped times differ by no more than the sum of their error bounds are tied with the
  earliest press; ``tie_rule`` settles it: "earliest" (earliest mapped wins, flagged "tie"),
  "random" (seeded draw, logged in the evidence), "none" (winner None: the operator decides).
- Any press in the decision whose clock mapping is untrusted adds the flag "uncertain_clock".
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from collections.abc import Mapping as AbcMapping
from dataclasses import dataclass

from buzzline.core.contract import ArbiterPhase
from buzzline.core.types import (
    ArbiterEffect,
    Decided,
    Decision,
    FalseStart,
    FalseStarted,
    LockAll,
    Overturned,
    Press,
    PressRejected,
    RingIn,
)

MODES = ("first", "ranked")
TIE_RULES = ("earliest", "random", "none")


@dataclass(frozen=True, slots=True)
class ArbiterRules:
    mode: str = "first"
    tie_rule: str = "earliest"
    false_start_us: int = 250_000
    # "first": absolute cap on the wait after the first valid arrival (per-podium caps inside it)
    max_wait_us: int = 1_000_000
    # optional: the window closes this long after arm (ranked mode decides then)
    window_us: int | None = None
    one_per_team: bool = False

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        if self.tie_rule not in TIE_RULES:
            raise ValueError(f"tie_rule must be one of {TIE_RULES}, not {self.tie_rule!r}")
        if self.false_start_us < 0 or self.max_wait_us < 0:
            raise ValueError("false_start_us and max_wait_us must be >= 0")
        if self.window_us is not None and self.window_us <= 0:
            raise ValueError("window_us must be > 0 when set")


def _press_json(p: Press) -> dict[str, object]:
    return {
        "podium": p.podium,
        "seq": p.seq,
        "podium_us": p.podium_us,
        "mapped_us": p.mapped_us,
        "err_us": p.err_us,
        "cap_us": p.cap_us,
        "arrival_us": p.arrival_us,
        "trusted": p.trusted,
        "team": p.team,
    }


class Arbiter:
    """One question's buzz arbitration; see the module docstring for the rules and phases."""

    def __init__(
        self,
        epoch: int,
        eligible: AbcMapping[str, str | None],
        rules: ArbiterRules | None = None,
        seed: int = 0,
        wait_caps: AbcMapping[str, int] | None = None,
    ) -> None:
        if not eligible:
            raise ValueError("at least one eligible podium is required")
        self.epoch = epoch
        self.rules = rules if rules is not None else ArbiterRules()
        self._teams: dict[str, str | None] = dict(eligible)
        self._rng = random.Random(seed)
        self._seed = seed
        self.phase: ArbiterPhase = "unarmed"
        self._now: int | None = None
        self._arm_us: int | None = None
        self._window = 0
        self._seen: set[tuple[str, int]] = set()
        self._lockout: dict[str, int] = {}  # false-start lockouts: podium -> locked until (host µs)
        self._excluded: set[str] = set()
        self._offline: set[str] = set()
        self._wm: dict[str, tuple[int, int, int]] = {}  # podium -> (mapped_us, err_us, seq)
        # Podiums that acknowledged this window's lock. The lock left the host after the first
        # buzz arrived, so after the leader's press; a podium sends every press captured before
        # the lock ahead of its acknowledgement, and a press after it cannot win. So an
        # acknowledgement is a complete watermark, whatever the clock bounds.
        self._acked: set[str] = set()
        self._presses: dict[str, Press] = {}  # counted presses of this window, by podium
        self._first_arrival: int | None = None
        self.decision: Decision | None = None
        # per podium: how long after the leader's latest possible press its own earlier press
        # would have arrived (see module docstring); absent: max_wait_us
        self._caps: dict[str, int] = dict(wait_caps or {})
        self._gap: set[str] = set()  # podiums with missing upstream messages, not yet covered
        self._stamps: dict[str, set[int]] = {}  # podium µs of every press per podium this epoch
        self._recovered: set[tuple[str, int]] = set()  # presses recovered from an ack's fp
        self.provisional = False  # decided at the wait cap and not yet complete: may be overturned

    # ---- queries -----------------------------------------------------------------------------

    @property
    def presses(self) -> tuple[Press, ...]:
        return tuple(sorted(self._presses.values(), key=lambda p: (p.mapped_us, p.podium)))

    @property
    def excluded(self) -> frozenset[str]:
        return frozenset(self._excluded)

    def locked_until(self, podium: str) -> int | None:
        return self._lockout.get(podium)

    def next_deadline(self) -> int | None:
        if self.phase == "asking" and self._first_arrival is not None:
            return self._first_arrival + self.rules.max_wait_us
        if self.phase == "locked" and self._first_arrival is not None:
            cap = self._first_arrival + self.rules.max_wait_us
            waiting = self._waiting_for()
            if not waiting or not self._presses:
                return cap
            if any(p not in self._caps for p in waiting):
                return cap  # nothing known of its delays: the absolute cap
            latest = self._leader().mapped_us + self._leader().err_us
            due = max(latest + self._caps[p] for p in waiting)
            return max(self._first_arrival, min(cap, due))
        if self.phase == "armed" and self.rules.window_us is not None and self._arm_us is not None:
            return self._arm_us + self.rules.window_us
        return None

    # ---- inputs ------------------------------------------------------------------------------

    def _advance(self, now_us: int) -> None:
        if self._now is not None and now_us < self._now:
            raise ValueError(f"time went backwards: {now_us} < {self._now}")

    def arm(self, arm_us: int, now_us: int) -> list[ArbiterEffect]:
        self._advance(now_us)
        if self.phase != "unarmed":
            raise ValueError(f"arm is only legal while unarmed, not {self.phase}")
        self._now = now_us
        self._arm_us = arm_us
        self.phase = "armed"
        return self._maybe_window_end(now_us)

    def press(self, press: Press, now_us: int) -> list[ArbiterEffect]:
        self._advance(now_us)
        self._now = now_us
        key = (press.podium, press.seq)
        if press.podium not in self._teams:
            return [PressRejected(press.podium, press.seq, "not_eligible")]
        if key in self._seen:
            return [PressRejected(press.podium, press.seq, "duplicate")]
        self._seen.add(key)
        self._stamps.setdefault(press.podium, set()).add(press.podium_us)
        self._offline.discard(press.podium)
        self._note_wm(press.podium, press.mapped_us, press.err_us, press.seq)
        return self._count(press, now_us)

    def _count(self, press: Press, now_us: int) -> list[ArbiterEffect]:
        """Count a press (received, or recovered from an acknowledgement) in the current window."""
        # Early only when surely early: an untrusted clock must not turn a fair press into a penalty.
        early = self._arm_us is not None and press.mapped_us + press.err_us < self._arm_us
        if self.phase == "unarmed" or early:
            if self._window_is_first_arm():
                return self._false_start(press)
            # pressed while the window was shut (between windows): no penalty, no count
            return [PressRejected(press.podium, press.seq, "closed")]
        if self.phase == "decided" and not self.provisional:
            return [PressRejected(press.podium, press.seq, "late")]
        asked = self._first_arrival if self.phase == "asking" else None
        if asked is not None and press.mapped_us - press.err_us > asked:
            return [PressRejected(press.podium, press.seq, "closed")]  # surely after the window
        if self.phase == "closed":
            return [PressRejected(press.podium, press.seq, "closed")]
        if press.podium in self._excluded:
            return [PressRejected(press.podium, press.seq, "locked_out")]
        until = self._lockout.get(press.podium)
        if until is not None and press.mapped_us < until:
            return [PressRejected(press.podium, press.seq, "false_start")]
        effects: list[ArbiterEffect] = []
        if press.podium in self._presses:
            # in sequence, so later than the one that counts
            return [PressRejected(press.podium, press.seq, "locked_out")]
        if self.phase == "decided":
            return self._maybe_overturn(press, now_us)
        team = self._teams[press.podium]
        if self.rules.one_per_team and team is not None:
            mate = next((p for p in self._presses.values() if self._teams[p.podium] == team), None)
            if mate is not None:
                if (mate.mapped_us, mate.podium) <= (press.mapped_us, press.podium):
                    return [PressRejected(press.podium, press.seq, "team_taken")]
                del self._presses[mate.podium]
                effects.append(PressRejected(mate.podium, mate.seq, "team_taken"))
        self._presses[press.podium] = press
        if self._first_arrival is None:
            self._first_arrival = now_us  # in every mode: the decision latency counts from here
        if self.phase == "armed" and self.rules.mode == "first":
            self.phase = "locked"
            others = tuple(sorted(p for p in self._active() if p != press.podium))
            effects.append(LockAll(self.epoch, others, press.podium))
        elif self.phase == "asking":  # a press of the window after all: locked since the ask
            self.phase = "locked"
        effects.extend(self._maybe_final(now_us))
        return effects

    def watermark(
        self,
        podium: str,
        seq: int,
        mapped_us: int,
        now_us: int,
        err_us: int = 0,
        lock_ack: bool = False,
        *,
        fp: Press | None = None,
        np: int | None = None,
        gap: bool = False,
    ) -> list[ArbiterEffect]:
        """``podium`` was heard in sequence at its time ``mapped_us`` (host µs, ± ``err_us``).

        ``lock_ack``: this is the podium's acknowledgement of this window's lock (see ``_acked``);
        ``np``/``fp``: the count of its presses this epoch and the earliest of them, as its
        acknowledgement declares (protocol ``ack.np``/``ack.fp``, ``fp`` mapped by the caller);
        ``gap``: upstream messages of this podium went missing before this one.
        """
        self._advance(now_us)
        self._now = now_us
        if podium not in self._teams:
            return []
        self._offline.discard(podium)
        if gap:
            self._gap.add(podium)
        effects: list[ArbiterEffect] = []
        if lock_ack and np is not None:
            stamps = self._stamps.setdefault(podium, set())
            if fp is not None and fp.podium_us not in stamps:
                effects += self._recover(fp, now_us)
            missing = np - len(stamps)
            if missing <= 0:
                self._gap.discard(podium)  # every press it made is accounted for
            else:
                self._gap.add(podium)  # it pressed more than arrived: a buzz was lost
        if podium not in self._gap:
            self._note_wm(podium, mapped_us, err_us, seq)
            if lock_ack and self.phase in ("locked", "decided", "asking"):
                self._acked.add(podium)
        return effects + self._maybe_final(now_us)

    def _recover(self, fp: Press, now_us: int) -> list[ArbiterEffect]:
        """A press the podium declared in its acknowledgement but the host never received: it is
        accounted for, and counted unless it was before the window (a false start is not
        penalised from an acknowledgement) or can no longer count."""
        self._stamps.setdefault(fp.podium, set()).add(fp.podium_us)
        if self._arm_us is None or fp.mapped_us + fp.err_us < self._arm_us or fp.podium in self._presses:
            return []
        self._recovered.add((fp.podium, fp.seq))
        return [e for e in self._count(fp, now_us) if not isinstance(e, PressRejected)]

    def offline(self, podium: str, now_us: int) -> list[ArbiterEffect]:
        self._advance(now_us)
        self._now = now_us
        if podium not in self._teams:
            return []
        self._offline.add(podium)
        return self._maybe_final(now_us)

    def resumed(self, now_us: int) -> list[ArbiterEffect]:
        """The host restarted on its log while this window was live (or its answer provisional):
        a buzz it acknowledged to the broker and had not written is lost to it, with nothing in
        the sequence to show it (the restarted host knows no sequence yet). Every podium that
        could hold such a press (not counted here, not yet acknowledged the lock) is treated as
        one with a gap: its watermarks do not settle the answer, only its lock acknowledgement,
        whose ``fp`` brings the press back (``_recover``), or the bounded wait."""
        self._advance(now_us)
        self._now = now_us
        if self.phase in ("armed", "locked", "asking") or (self.phase == "decided" and self.provisional):
            self._gap.update(p for p in self._active() if p not in self._presses and p not in self._acked)
        return []

    def tick(self, now_us: int) -> list[ArbiterEffect]:
        self._advance(now_us)
        self._now = now_us
        out = self._maybe_final(now_us)
        if out:
            return out
        deadline = self.next_deadline()
        if self.phase == "asking" and deadline is not None and now_us >= deadline:
            self.phase = "closed"  # the podiums still silent are not waited for longer
            return []
        if self.phase == "locked" and deadline is not None and now_us >= deadline:
            flags = {"timeout", "provisional"}
            if any(p in self._gap for p in self._waiting_for()):
                flags.add("gap_open")
            out = self._decide(now_us, flags)
            self.provisional = True
            return out
        return self._maybe_window_end(now_us)

    def reopen(self, now_us: int, exclude: Iterable[str] = ()) -> list[ArbiterEffect]:
        self._advance(now_us)
        if self.phase not in ("decided", "closed"):
            raise ValueError(f"reopen is only legal after a decision or close, not {self.phase}")
        self._now = now_us
        self._excluded.update(exclude)
        self._window += 1
        self._arm_us = now_us
        self._presses = {}
        self._acked = set()
        self._first_arrival = None
        self.provisional = False
        self.phase = "armed"
        return self._maybe_window_end(now_us)

    def close(self, now_us: int) -> list[ArbiterEffect]:
        self._advance(now_us)
        self._now = now_us
        self.provisional = False  # the answer is settled (judged, timed out): no more overturns
        if self.phase == "locked" or (self.phase == "armed" and self._presses):
            return self._decide(now_us, {"closed"})
        self.phase = "closed"
        return []

    # ---- internals ---------------------------------------------------------------------------

    def _window_is_first_arm(self) -> bool:
        # after a reopen, a press before the reopen instant is not a false start (podiums were dark)
        return self._window == 0

    def _leader(self) -> Press:
        return min(self._presses.values(), key=lambda p: (p.mapped_us, p.podium))

    def _maybe_overturn(self, press: Press, now_us: int) -> list[ArbiterEffect]:
        """A press after a provisional decision: overturn it if this press changes the answer."""
        previous = self.decision
        assert previous is not None
        team = self._teams[press.podium]
        if self.rules.one_per_team and team is not None:
            mate = next((p for p in self._presses.values() if self._teams[p.podium] == team), None)
            if mate is not None and (mate.mapped_us, mate.podium) <= (press.mapped_us, press.podium):
                return [PressRejected(press.podium, press.seq, "team_taken")]
        saved = dict(self._presses)
        if self.rules.one_per_team and team is not None:
            for p in [q for q in self._presses.values() if self._teams[q.podium] == team]:
                del self._presses[p.podium]
        self._presses[press.podium] = press
        candidate = self._decision(now_us, set(previous.flags - {"tie", "uncertain_clock"}), previous)
        if candidate.winner == previous.winner and candidate.tied == previous.tied:
            self._presses = saved
            return [PressRejected(press.podium, press.seq, "late")]
        self.decision = candidate
        if not self._waiting_for() and not self._offline_open():
            self.provisional = False
        return [Overturned(previous, candidate)]

    def _note_wm(self, podium: str, mapped_us: int, err_us: int, seq: int) -> None:
        old = self._wm.get(podium)
        if old is None or mapped_us - err_us > old[0] - old[1]:
            self._wm[podium] = (mapped_us, err_us, seq)

    def _false_start(self, press: Press) -> list[ArbiterEffect]:
        until = press.mapped_us + self.rules.false_start_us
        self._lockout[press.podium] = max(until, self._lockout.get(press.podium, until))
        return [FalseStarted(FalseStart(press.podium, press.mapped_us, self._lockout[press.podium]))]

    def _active(self) -> list[str]:
        return [p for p in self._teams if p not in self._excluded]

    def _waiting_for(self) -> list[str]:
        """Podiums that could still deliver a press earlier than (or tied with) the leader."""
        if not self._presses:
            return []
        lead = self._leader()
        latest = lead.mapped_us + lead.err_us
        out = []
        for p in self._active():
            if p in self._presses or p in self._offline:
                continue
            if p in self._gap:  # a lost message may be its buzz: only a covering ack completes it
                out.append(p)
                continue
            if p in self._acked or self._past(p, latest):
                continue
            out.append(p)
        return out

    def _past(self, podium: str, latest: int) -> bool:
        """Nothing the podium can still deliver is at or before ``latest``: it is locked out
        past it, or it reported (its watermark) past it."""
        if self._lockout.get(podium, -1) > latest:
            return True
        wm = self._wm.get(podium)
        return wm is not None and wm[0] - wm[1] > latest

    def _offline_open(self) -> list[str]:
        """Offline podiums that may still deliver a press earlier than (or tied with) the leader,
        captured while their link was down: not waited for, but the decision stays open to them."""
        if not self._presses or self.rules.mode != "first":
            return []
        lead = self._leader()
        latest = lead.mapped_us + lead.err_us
        out = []
        for p in self._active():
            if p not in self._offline or p in self._presses or p in self._acked or self._past(p, latest):
                continue
            out.append(p)
        return out

    def _ranked_complete(self) -> bool:
        for p in self._active():
            if p in self._presses or p in self._offline:
                continue
            team = self._teams[p]
            if self.rules.one_per_team and team is not None:
                mate = next((q for q in self._presses.values() if self._teams[q.podium] == team), None)
                wm = self._wm.get(p)
                if mate is not None and wm is not None and wm[0] - wm[1] > mate.mapped_us + mate.err_us:
                    continue
            return False
        return True

    def _maybe_final(self, now_us: int) -> list[ArbiterEffect]:
        if self.phase == "asking" and all(p in self._acked or p in self._offline for p in self._active()):
            self.phase = "closed"  # every podium declared no press of this window
            return []
        if (
            self.phase == "decided"
            and self.provisional
            and not self._waiting_for()
            and not self._offline_open()
        ):
            self.provisional = False  # complete after all: the provisional answer is final
            return []
        if self.phase == "locked" and not self._waiting_for():
            return self._decide(now_us, set())
        if (
            self.phase == "armed"
            and self.rules.mode == "ranked"
            and self._presses
            and self._ranked_complete()
        ):
            return self._decide(now_us, set())
        return []

    def _maybe_window_end(self, now_us: int) -> list[ArbiterEffect]:
        if self.phase != "armed" or self.rules.window_us is None or self._arm_us is None:
            return []
        if now_us < self._arm_us + self.rules.window_us:
            return []
        if self._presses:
            return self._decide(now_us, {"timeout"})
        if self.rules.mode == "first" and self._active():
            # No buzz arrived. One may have been acknowledged by a broker that died before
            # delivering it: the lock acknowledgements declare every press (fp/np), so lock
            # everyone and read them before calling it a question nobody buzzed in.
            self.phase = "asking"
            self._first_arrival = now_us
            self._acked = set()
            return [LockAll(self.epoch, tuple(sorted(self._active())), ""), *self._maybe_final(now_us)]
        self.phase = "closed"
        return []

    def _decide(self, now_us: int, flags: set[str]) -> list[ArbiterEffect]:
        self.decision = self._decision(now_us, flags)
        self.phase = "decided"
        self.provisional = bool(self._offline_open())
        return [Decided(self.decision)]

    def _decision(self, now_us: int, flags: set[str], previous: Decision | None = None) -> Decision:
        order = self.presses
        lead = order[0]
        tied = tuple(p.podium for p in order if p.mapped_us - lead.mapped_us <= lead.err_us + p.err_us)
        evidence: dict[str, object] = {
            "window": self._window,
            "arm_us": self._arm_us,
            "presses": [_press_json(p) for p in order],
            "watermarks": {
                p: {"mapped_us": wm[0], "err_us": wm[1], "seq": wm[2]} for p, wm in sorted(self._wm.items())
            },
            "offline": sorted(self._offline),
            "lock_acks": sorted(self._acked),
            "excluded": sorted(self._excluded),
            "lockouts": dict(sorted(self._lockout.items())),
            "first_arrival_us": self._first_arrival,
            "wait_us": None if self._first_arrival is None else now_us - self._first_arrival,
            "waiting_for": self._waiting_for() if self.rules.mode == "first" else [],
            "tie_rule": self.rules.tie_rule,
            "mode": self.rules.mode,
            "wait_caps": dict(sorted(self._caps.items())),
            "gap_open": sorted(self._gap),
            "recovered": sorted(p for p, _seq in self._recovered),
        }
        if previous is not None:
            flags = flags | {"overturned"}
            evidence["overturned"] = {
                "winner": previous.winner,
                "tied": list(previous.tied),
                "decided_us": previous.decided_us,
            }
        winner: str | None = lead.podium
        if len(tied) > 1:
            flags.add("tie")
            if self.rules.tie_rule == "random":
                among = sorted(tied)
                winner = self._rng.choice(among)
                evidence["draw"] = {"seed": self._seed, "among": among, "picked": winner}
            elif self.rules.tie_rule == "none":
                winner = None
        if any(not p.trusted for p in order):
            flags.add("uncertain_clock")
        if winner is not None and winner != lead.podium:
            # the drawn podium heads the ring-in order; the rest keep mapped order
            order = (self._presses[winner], *(p for p in order if p.podium != winner))
        base = self._presses[winner].mapped_us if winner is not None else lead.mapped_us
        ring = tuple(
            RingIn(p.podium, p.mapped_us, p.err_us, p.mapped_us - base, self._teams[p.podium]) for p in order
        )
        return Decision(
            epoch=self.epoch,
            winner=winner,
            order=ring,
            tied=tied if len(tied) > 1 else (),
            tie_rule=self.rules.tie_rule,
            flags=frozenset(flags),
            decided_us=now_us,
            evidence=evidence,
        )
