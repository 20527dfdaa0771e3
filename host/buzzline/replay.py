"""Rebuild a game from its event log: the host's resume after a crash, and `buzzline replay --state`.

The log holds the show it was started with (a ``show`` record) and every input the engine
accepted, with the host time it was handled at, plus the timer ticks that changed anything.
Feeding them, in order, to a fresh engine gives exactly the state the host had: the core is
deterministic. Clock models are not replayed: mapped times are in the inputs themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.io.eventlog import EventLog, from_record, register

SHOW_RECORD = "show"
register(Show)


@dataclass
class Rebuilt:
    engine: GameEngine
    show: Show
    inputs: int  # inputs and ticks replayed
    last_us: int  # host time of the last one (0 for an empty log)


def logged_show(log: EventLog) -> Show | None:
    for rec in log.records(kinds=[SHOW_RECORD]):
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
    n = 0
    last = 0
    for rec in log.records(kinds=["input", "tick"]):
        now = int(rec.data["now_us"])
        if rec.kind == "tick":
            engine.tick(now)
        else:
            engine.handle(from_record(rec.data["type"], rec.data["event"]), now)
        n += 1
        last = now
    return Rebuilt(engine, show, n, last)
