"""Rebuild a game from its event log: the host's resume after a crash, and `buzzline replay --state`.

The log holds the show it was started with (a ``show`` record) and every input the engine
accepted, with the host time it was handled at, plus the timer ticks that changed anything.
Feeding them, in order, to a fresh engine gives exactly the state the host had: the core is
deterministic. Clock models are not replayed: mapped times are in the inputs themselves.
Records of a kind this host does not know (io/recordkinds.py) are skipped and counted; an input
it cannot read stops the rebuild with the record's number.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field

from buzzline.core import events as ev
from buzzline.core.contract import ScoreChange, score_changes
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.io.eventlog import EventLog, EventLogError, RecordError, from_record
from buzzline.io.recordkinds import INPUT, OBJECT_ROW_KINDS, ROW_KINDS, SHOW, TICK

_log = logging.getLogger(__name__)


@dataclass
class Rebuilt:
    engine: GameEngine
    show: Show
    inputs: int  # inputs and ticks replayed
    last_us: int  # host time of the last one (0 for an empty log)
    skipped: Counter[str] = field(default_factory=Counter)  # records of kinds this host does not know
    # what a restarted host shows as it was: each score change (the console's history); each
    # podium's last hello (which a podium does not send again to a new host) is in the engine's
    # podium table
    scores: list[ScoreChange] = field(default_factory=list)


def logged_show(log: EventLog) -> Show | None:
    for rec in log.records(kinds=[SHOW]):
        show = from_record(rec.data["type"], rec.data["show"])
        if isinstance(show, Show):
            return show
    return None


def rebuild(log: EventLog, show: Show | None = None, seed: int = 0) -> Rebuilt:
    """Replay ``log`` into a fresh engine. The logged show wins over ``show`` (a log started
    with another show file would not replay to the same state)."""
    show = logged_show(log) or show
    if show is None:
        raise ValueError(f"{log.path}: no show record, and no show given")
    engine = GameEngine(show, seed=seed)
    out = Rebuilt(engine, show, 0, 0)
    for rec in log.records():
        if rec.kind not in (INPUT, TICK):
            if rec.kind not in ROW_KINDS and rec.kind not in OBJECT_ROW_KINDS:
                out.skipped[rec.kind] += 1  # a later release's record: nothing this engine replays
            continue
        now = int(rec.data["now_us"])
        before = dict(engine.g.scores)
        cause: ev.Event | None = None
        if rec.kind == TICK:
            effects = engine.tick(now)
        else:
            try:
                cause = from_record(rec.data["type"], rec.data["event"])
            except (RecordError, KeyError) as e:
                raise EventLogError(
                    f"{log.path}: record {rec.seq}: an input this host cannot read ({e});"
                    " a newer Buzzline wrote it? the game cannot be rebuilt without it"
                ) from None
            effects = engine.handle(cause, now)
        out.scores += _score_changes(before, engine, effects, cause, rec.seq, now)
        out.inputs += 1
        out.last_us = now
    if out.skipped:
        _log.warning(
            "%s: skipped records of kinds this host does not know: %s",
            log.path,
            ", ".join(f"{k} x{c}" for k, c in sorted(out.skipped.items())),
        )
    return out


def _score_changes(
    before: dict[str, int], engine: GameEngine, effects: list[ev.Effect], cause: object, seq: int, now: int
) -> list[ScoreChange]:
    """The score changes of one replayed input, as the console's history lists them (an undo or
    redo restores a snapshot: its changes carry the command as their reason)."""
    reasons = {e.player: e.reason for e in effects if isinstance(e, ev.ScoreChanged)}
    fallback = cause.name if isinstance(cause, ev.Command) else "replayed"
    return score_changes(before, engine.g.scores, lambda p: reasons.get(p, fallback), seq, now, engine.g.q)
