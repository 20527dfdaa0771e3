"""What goes into the game engine (podium inputs, operator commands) and what comes out (effects).

All frozen values, so the event log can store, replay and compare them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from buzzline.core.contract import Timer
from buzzline.core.types import Decision

# ---- podium inputs (decoded and de-duplicated by the host bridge) ----


@dataclass(frozen=True, slots=True)
class PodiumPress:
    podium: str
    seq: int
    podium_us: int
    mapped_us: int  # press time on the host clock (clock model)
    err_us: int
    trusted: bool
    arrival_us: int
    # the capture part of err_us (``clock.with_capture``; mapped_us is already centred), 0 if none
    cap_us: int = 0


@dataclass(frozen=True, slots=True)
class PodiumWatermark:
    """The podium is known to be past ``mapped_us`` (a lock acknowledgement or a heartbeat, in order)."""

    podium: str
    seq: int
    mapped_us: int
    # the clock model's error bound for mapped_us: the arbiter only counts the podium as past a
    # press once mapped_us - err_us is past it, so pass it whenever the clock model has one
    err_us: int = 0
    # an acknowledgement of the current lock: nothing earlier can still come from this podium
    lock_ack: bool = False
    # what the acknowledgement declares (protocol ack.np / ack.fp): its presses this epoch, and
    # the earliest one (podium µs, mapped like a press); np None: the ack declares nothing
    np: int | None = None
    fp: int | None = None
    fp_mapped_us: int = 0
    fp_err_us: int = 0
    fp_trusted: bool = False
    # upstream messages of this podium went missing just before this one (a sequence gap)
    gap: bool = False


@dataclass(frozen=True, slots=True)
class PodiumOnline:
    podium: str
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PodiumOffline:
    podium: str


@dataclass(frozen=True, slots=True)
class PodiumHello:
    podium: str
    hw: str
    board: str
    fw: str
    cap_us: int = 0  # its capture bound (clock.capture_bound_us of hello.board and hello.cap)


# ---- operator commands: one interface for every control surface ----

# Each command's signature: the argument names it reads (the engine judges their values). The
# operator API refuses any other name before the engine sees it (core.commandargs.check_args).
COMMAND_ARGS: dict[str, frozenset[str]] = {
    "read": frozenset(),
    "arm": frozenset(),
    "judge": frozenset({"correct", "podium"}),
    "timeout": frozenset(),
    "next": frozenset(),
    "adjust": frozenset({"player", "delta", "reason"}),
    "assign": frozenset({"podium", "player", "create", "team"}),
    "unassign": frozenset({"podium"}),
    "rename": frozenset({"player", "to"}),
    "undo": frozenset(),
    "redo": frozenset(),
    "end": frozenset(),
}
COMMANDS = tuple(COMMAND_ARGS)
# Commands the host service carries out itself, outside the game (no state, not logged, no undo).
HOST_COMMAND_ARGS: dict[str, frozenset[str]] = {
    "identify": frozenset({"podium", "ms"}),
    "selftest": frozenset({"podium", "edges"}),
}


@dataclass(frozen=True, slots=True)
class Command:
    """``name`` in COMMANDS; ``args``: judge {correct: bool}, adjust {player, delta, reason},
    assign {podium, player, create, team}, unassign {podium}, rename {player, to}; the others
    take none (``COMMAND_ARGS``)."""

    name: str
    args: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class HostResumed:
    """The host started again on its log. What it had acknowledged to the broker and not yet
    written when it stopped (a buzz read off the socket a moment before a crash) is gone, and
    only the podiums' lock acknowledgements (``fp``, ``np``) can declare it."""


Event = PodiumPress | PodiumWatermark | PodiumOnline | PodiumOffline | PodiumHello | Command | HostResumed


# ---- effects: what the host service must do, in order ----


@dataclass(frozen=True, slots=True)
class Light:
    """Set a podium's light; ``podium`` may be "all". Patterns are the codec's light patterns."""

    podium: str
    pattern: str
    colour: str | None = None
    dur_ms: int = 0


@dataclass(frozen=True, slots=True)
class Lock:
    """Lock these podiums now (first buzz of a window, or the window closed)."""

    epoch: int
    podiums: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Arm:
    """Arm every podium for this epoch: presses now count."""

    epoch: int


@dataclass(frozen=True, slots=True)
class StateChanged:
    """The viewer state changed: publish ``engine.view()`` (retained)."""


@dataclass(frozen=True, slots=True)
class DecisionMade:
    decision: Decision


@dataclass(frozen=True, slots=True)
class DecisionOverturned:
    """A provisional decision changed: an earlier press arrived while the answer was open."""

    previous: Decision
    decision: Decision


@dataclass(frozen=True, slots=True)
class CommandRefused:
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class FalseStartPenalty:
    """A press before the buzzers were armed (or during a lockout): out for ``lockout_ms``."""

    podium: str
    mapped_us: int
    lockout_ms: int


@dataclass(frozen=True, slots=True)
class Judged:
    podium: str | None
    player: str | None
    correct: bool
    result: str  # correct, incorrect, answer_timeout


@dataclass(frozen=True, slots=True)
class Reopened:
    """A wrong answer reopened the question for the players still in it."""

    epoch: int
    locked_out: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ScoreChanged:
    player: str
    delta: int
    total: int
    reason: str


@dataclass(frozen=True, slots=True)
class TimerStarted:
    timer: Timer  # "buzz" (the buzz window) or "answer"
    ms: int


@dataclass(frozen=True, slots=True)
class TimerExpired:
    timer: Timer


@dataclass(frozen=True, slots=True)
class QuestionOver:
    q: int
    result: str  # correct, timeout, no_buzz, tie, incorrect, answer_timeout


@dataclass(frozen=True, slots=True)
class Logged:
    """Something worth a line in the timeline (false start, ignored press, score change...)."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Effect = (
    Light
    | Lock
    | Arm
    | StateChanged
    | DecisionMade
    | DecisionOverturned
    | CommandRefused
    | FalseStartPenalty
    | Judged
    | Reopened
    | ScoreChanged
    | TimerStarted
    | TimerExpired
    | QuestionOver
    | Logged
)
