"""The typed contract between the host and whatever reads it: game phases, the view, and every
notice event kind (protocol SPEC §3.9), as TypedDicts, with the one table derived from them.

The bridge builds its notice events as these types (mypy checks each one it writes);
``EVENT_FIELDS`` is derived from them, and tests/test_contract.py checks SPEC §3.9's table, the
events a real host emits and the adapter API against it. Readers (adapters, the console, a
remote feed) take events as plain mappings: a newer host may send kinds they do not know, which
they ignore (§3.9). ``GameView`` is the retained state (§3.7) plus the host's ``info``; a reader
that joined late may hold a partial one, hence ``total=False`` and ``podium_view``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal, NotRequired, TypedDict, cast, get_args, get_type_hints

# ---- phases: one name per meaning --------------------------------------------------------------

# The game's phase (the view's ``phase``, the wire's ``state.phase``).
GamePhase = Literal["idle", "reading", "open", "answering", "judged", "ended"]
GAME_PHASES: tuple[GamePhase, ...] = get_args(GamePhase)
# The arbiter's, for one buzz window: before the arm instant, armed (taking presses, nobody
# locked yet), asking (the window ended with no buzz: everyone locked, their acknowledgements
# read for a press a broker lost), locked (first buzz in, waiting for completeness), decided,
# closed.
ArbiterPhase = Literal["unarmed", "armed", "asking", "locked", "decided", "closed"]
ARBITER_PHASES: tuple[ArbiterPhase, ...] = get_args(ArbiterPhase)
Timer = Literal["buzz", "answer"]  # the buzz window, the answer timer

# ---- the view ------------------------------------------------------------------------------


class OrderItem(TypedDict):
    podium: str
    gap_us: int
    err_us: int
    player: NotRequired[str]


class PodiumView(TypedDict, total=False):
    player: str
    online: bool
    seat: int | None
    col: str
    team: str


class ViewInfo(TypedDict, total=False):
    title: str
    mode: str
    round: str
    value: int
    result: str | None
    locked_out: list[str]
    podiums: dict[str, PodiumView]
    unassigned: list[str]
    questions: int
    flags: list[str]
    winner_player: str


class GameView(TypedDict, total=False):
    """What viewers see: shaped as the protocol's ``state`` message (minus v, t) plus ``info``."""

    phase: GamePhase
    ep: int
    q: int
    ts: int
    order: list[OrderItem]
    scores: dict[str, int]
    winner: str
    info: ViewInfo
    link: dict[str, bool]  # standalone readers only: their connection to the show


def as_view(data: Mapping[str, Any]) -> GameView:
    """A view read from elsewhere (the wire's retained state, a test's fixture), taken as the
    shape §3.7 gives it: readers use ``.get``, so a partial one is fine."""
    return cast(GameView, dict(data))


def podiums_of(view: Mapping[str, Any]) -> dict[str, PodiumView]:
    """What the view says of each podium (empty for a partial view): the one walk into ``info``."""
    info = view.get("info")
    podiums = info.get("podiums") if isinstance(info, Mapping) else None
    return cast(dict[str, PodiumView], podiums) if isinstance(podiums, dict) else {}


def podium_view(view: Mapping[str, Any], podium: str | None) -> PodiumView:
    """What the view says of one podium (empty when it says nothing: a partial view, no podium)."""
    found = podiums_of(view).get(podium or "")
    return found if isinstance(found, dict) else {}


# ---- the operator API's command bodies (docs/operations.md) -------------------------------------


class CommandBody(TypedDict):
    """``POST /api/command``: what a control surface sends (``core.commandargs`` checks it)."""

    name: str
    args: NotRequired[dict[str, Any]]


class CommandDone(TypedDict):
    """200: carried out, with the effects it had."""

    ok: Literal[True]
    effects: list[Any]


class CommandRefusal(TypedDict):
    """409: the game cannot take the command now; ``refused`` says why."""

    ok: Literal[False]
    refused: str


class ApiError(TypedDict):
    """4xx: the request itself is wrong (a bad body, no operator token)."""

    ok: Literal[False]
    error: str


class CaptureRow(TypedDict):
    us: int
    source: str  # declared, board, logged, none (gate.bridge.Bridge.capture)
    declared: bool


class ClockRow(TypedDict):
    err_us: int
    trusted: bool
    samples: int
    min_rtt_us: int | None
    skew_ppm: float


class PodiumRow(TypedDict):
    """One podium of ``GET /api/state`` ``podiums``: its record in the podium table
    (``core.podiums``), and what the console adds (how long ago it was heard, its capture bound
    and where it comes from, its clock model)."""

    podium: str
    online: bool
    boot: int | None
    last_heard_us: int
    last_hb_us: int
    rssi: int | None
    batt_mv: int | None
    clock_err_us: int | None
    clock_trusted: bool
    faults: int
    seq_gaps: int
    cap: list[int] | None
    hw: str
    board: str
    fw: str
    capture_us: int | None
    seen_ago_ms: NotRequired[int | None]
    capture: NotRequired[CaptureRow]
    clock: NotRequired[ClockRow]


class ScoreChange(TypedDict):
    """One line of the console's score history (``GET /api/state`` ``score_history``): a score
    event, or a change an undo or redo made, or one replayed from the log after a resume."""

    player: str
    delta: int
    total: int
    reason: str
    seq: int  # the notice's (or, replayed, the log record's)
    host_us: int
    q: int | None


def score_changes(
    before: Mapping[str, int],
    after: Mapping[str, int],
    reason: Callable[[str], str],
    seq: int,
    host_us: int,
    q: int | None,
) -> list[ScoreChange]:
    """The changes between two score tables, player by player in name order (an undo or redo,
    which restores a snapshot, or a replayed input: no one score event says what changed)."""
    out: list[ScoreChange] = []
    for player in sorted(set(before) | set(after)):
        delta = after.get(player, 0) - before.get(player, 0)
        if delta:
            total = after.get(player, 0)
            out.append(
                {"player": player, "delta": delta, "total": total, "reason": reason(player),
                 "seq": seq, "host_us": host_us, "q": q}
            )  # fmt: skip
    return out


# ---- notice events (SPEC §3.9) ---------------------------------------------------------------


class Who(TypedDict):
    podium: str | None
    player: str | None
    seat: int | None


class Ranked(Who):
    gap_us: int
    err_us: int


class QuestionEvent(TypedDict):
    k: Literal["question"]
    q: int
    round: str
    value: int
    questions: int | None


class PhaseEvent(TypedDict):
    k: Literal["phase"]
    phase: GamePhase
    q: int
    round: str


class ArmedEvent(TypedDict):
    k: Literal["armed"]
    ep: int
    q: int


class LockedEvent(TypedDict):
    k: Literal["locked"]
    ep: int


class WinnerEvent(Who):
    k: Literal["winner"]
    team: str | None
    order: list[Ranked]
    flags: list[str]
    tie_rule: str | None


class TieEvent(TypedDict):
    k: Literal["tie"]
    podiums: list[str]
    rule: str | None
    winner: str | None


class NoWinnerEvent(TypedDict):
    k: Literal["no_winner"]
    result: Literal["tie", "no_buzz"]
    order: list[Ranked]


class OverturnedEvent(TypedDict):
    k: Literal["overturned"]
    old: Who
    new: Who
    old_tied: list[str]
    tied: list[str]
    flags: list[str]


class FalseStartEvent(Who):
    k: Literal["false_start"]
    lockout_ms: int


class JudgedEvent(Who):
    k: Literal["judged"]
    correct: bool
    result: str


class ReopenedEvent(TypedDict):
    k: Literal["reopened"]
    ep: int
    locked_out: list[str]


class ScoreEvent(TypedDict):
    k: Literal["score"]
    player: str
    delta: int
    total: int
    reason: str


class TimerStartedEvent(TypedDict):
    k: Literal["timer_started"]
    timer: Timer
    ms: int


class TimerExpiredEvent(TypedDict):
    k: Literal["timer_expired"]
    timer: Timer


class QuestionOverEvent(TypedDict):
    k: Literal["question_over"]
    q: int
    result: str


class LightEvent(TypedDict):
    k: Literal["light"]
    podium: str
    pat: str
    col: str | None
    dur: int


class PodiumEvent(TypedDict):
    k: Literal["podium"]
    podium: str | None
    online: bool


class RosterEvent(TypedDict):
    k: Literal["assigned", "unassigned"]
    podium: str | None
    player: str | None


class RenamedEvent(TypedDict):
    k: Literal["renamed"]
    player: str | None
    to: str | None


class CommandEvent(TypedDict):
    k: Literal["command"]
    name: str | None


class RefusedEvent(TypedDict):
    k: Literal["refused"]
    name: str
    reason: str


class UndoEvent(TypedDict):
    k: Literal["undo", "redo"]
    command: str | None


class ViewEvent(TypedDict):
    k: Literal["view"]


class LinkEvent(TypedDict):
    """Made by a standalone reader itself (``adapters.remote``), never sent on the wire."""

    k: Literal["link"]
    broker: bool
    host: bool


NoticeEvent = (
    QuestionEvent
    | PhaseEvent
    | ArmedEvent
    | LockedEvent
    | WinnerEvent
    | TieEvent
    | NoWinnerEvent
    | OverturnedEvent
    | FalseStartEvent
    | JudgedEvent
    | ReopenedEvent
    | ScoreEvent
    | TimerStartedEvent
    | TimerExpiredEvent
    | QuestionOverEvent
    | LightEvent
    | PodiumEvent
    | RosterEvent
    | RenamedEvent
    | CommandEvent
    | RefusedEvent
    | UndoEvent
    | ViewEvent
)
EVENT_TYPES: tuple[type[Any], ...] = (*get_args(NoticeEvent), LinkEvent)
LOCAL_KINDS = ("link",)  # made by the reader, not the host: not in SPEC §3.9


def _fields_by_kind() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for td in EVENT_TYPES:
        hints = get_type_hints(td)
        for kind in get_args(hints["k"]):
            table[kind] = tuple(name for name in hints if name != "k")
    return table


# kind -> its fields (``d`` on the wire), in order: THE table, derived from the types above
EVENT_FIELDS: dict[str, tuple[str, ...]] = _fields_by_kind()


def event_problems(event: Mapping[str, Any]) -> list[str]:
    """What is wrong with one event against the table (empty: nothing)."""
    kind = event.get("k")
    if kind not in EVENT_FIELDS:
        return [f"unknown kind {kind!r}"]
    want = set(EVENT_FIELDS[str(kind)])
    have = set(event) - {"k"}
    out = [f"{kind}: missing {name}" for name in sorted(want - have)]
    return out + [f"{kind}: unexpected {name}" for name in sorted(have - want)]
