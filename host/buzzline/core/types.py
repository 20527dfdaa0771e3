"""Values that cross the seams of the pure core: presses, decisions and their evidence.

Times are integers in microseconds. ``*_us`` on the host clock (monotonic), ``podium_us``
on the podium's own extended 64-bit clock. Everything here is immutable so a decision
can be logged, replayed and compared for equality.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Mapping:
    """A podium time mapped onto the host clock, with its error bound (half-width)."""

    host_us: int
    err_us: int
    # False while the clock model has too few samples to be trusted.
    trusted: bool = True


@dataclass(frozen=True, slots=True)
class Press:
    """One accepted buzz, as the arbiter sees it."""

    podium: str
    seq: int
    podium_us: int
    mapped_us: int
    err_us: int
    arrival_us: int
    trusted: bool = True
    team: str | None = None
    # the capture part of err_us (button edge -> stamp; ``clock.with_capture``), 0 when not known
    cap_us: int = 0


@dataclass(frozen=True, slots=True)
class RingIn:
    """One podium's place in the ring-in order."""

    podium: str
    mapped_us: int
    err_us: int
    gap_us: int  # mapped time after the winner's (0 for the winner)
    team: str | None = None


@dataclass(frozen=True, slots=True)
class FalseStart:
    podium: str
    mapped_us: int
    locked_until_us: int


@dataclass(frozen=True, slots=True)
class Decision:
    """The arbiter's answer for one open window (one question epoch, or a reopen of it)."""

    epoch: int
    winner: str | None
    order: tuple[RingIn, ...]
    # podiums whose press could not be told apart from the winner's (winner included)
    tied: tuple[str, ...] = ()
    tie_rule: str = ""
    # e.g. "tie", "timeout" (bounded wait expired), "uncertain_clock"
    flags: frozenset[str] = field(default_factory=frozenset)
    decided_us: int = 0
    # inputs that made it: presses, watermarks, wait; JSON-serialisable
    evidence: dict[str, object] = field(default_factory=dict)

    @property
    def is_tie(self) -> bool:
        return len(self.tied) > 1

    def __deepcopy__(self, memo: dict[int, object]) -> Decision:
        # Immutable once made (nothing changes its evidence after), so the game's undo snapshot,
        # a deep copy per command, shares it: copying every past decision made each command, and
        # a restarted host's replay, slower as the show went on.
        return self


# ---- effects the arbiter returns (the game engine turns them into commands) ----


@dataclass(frozen=True, slots=True)
class LockAll:
    """Lock every podium in ``podiums`` now: a press after this instant cannot win."""

    epoch: int
    podiums: tuple[str, ...]
    leader: str  # podium whose arriving buzz triggered the lock (provisional)


@dataclass(frozen=True, slots=True)
class Decided:
    decision: Decision


@dataclass(frozen=True, slots=True)
class Overturned:
    """A provisional decision (made when the wait cap expired) changed: an earlier press arrived
    while the answer was still open. ``decision`` replaces ``previous``."""

    previous: Decision
    decision: Decision


@dataclass(frozen=True, slots=True)
class PressRejected:
    """A press that cannot count: reason in {"duplicate", "false_start", "locked_out", "not_eligible",
    "team_taken", "late", "closed"}."""

    podium: str
    seq: int
    reason: str


@dataclass(frozen=True, slots=True)
class FalseStarted:
    false_start: FalseStart


ArbiterEffect = LockAll | Decided | Overturned | PressRejected | FalseStarted
