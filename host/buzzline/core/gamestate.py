"""The state a game engine keeps: what an operator's undo restores (``GameState``), its snapshots,
and the whole of it (``Play``) that the engine's transitions are functions of."""

from __future__ import annotations

from dataclasses import dataclass, field

from buzzline.core.arbiter import Arbiter
from buzzline.core.contract import GamePhase
from buzzline.core.delays import DelayBook
from buzzline.core.podiums import PodiumTable
from buzzline.core.show import Player, Show
from buzzline.core.types import Decision


@dataclass
class GameState:
    """Everything an operator's undo restores (the podium registry is not part of it)."""

    phase: GamePhase = "idle"
    q: int = 1
    ep: int = 0
    ts: int = 0  # host time of the last phase change
    players: dict[str, Player] = field(default_factory=dict)  # name -> player (insertion = show order)
    scores: dict[str, int] = field(default_factory=dict)
    podiums: dict[str, str] = field(default_factory=dict)  # podium -> player name
    arb: Arbiter | None = None
    locked_out: list[str] = field(default_factory=list)  # players out of the current question
    decision: Decision | None = None
    answering: str | None = None  # podium whose player is answering
    winner: str | None = None  # podium shown as winner (answering, or judged correct)
    winner_player: str | None = None
    result: str = ""  # how the last question ended: correct, incorrect, timeout, no_buzz, tie
    locked: bool = False  # a lock went out in the current window (awaiting the decision)
    window_deadline: int | None = None
    answer_deadline: int | None = None
    decisions: int = 0
    question_us: int = 0  # host time the current question's window was created (read or arm)

    def locked_out_podiums(self) -> list[str]:
        """Podiums whose players a wrong answer locked out of this question."""
        return sorted(pid for pid, name in self.podiums.items() if name in self.locked_out)


@dataclass
class Snapshot:
    name: str
    at_us: int
    game: GameState


class Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Play:
    """A game engine's whole state, what its transitions (``core.game``) are functions of: the
    show, the seed, the undoable state ``g`` and its undo and redo stacks, and what no undo
    touches (the podium table, the observed delays)."""

    show: Show
    seed: int
    g: GameState
    podiums: PodiumTable = field(default_factory=PodiumTable)
    delays: DelayBook = field(default_factory=DelayBook)
    undo: list[Snapshot] = field(default_factory=list)
    redo: list[Snapshot] = field(default_factory=list)

    def colour(self, player: str) -> str | None:
        """The player's own colour, else the team's; None when neither chose one."""
        return chosen_colour(self.g, self.show, player)


def chosen_colour(g: GameState, show: Show, player: str) -> str | None:
    """The player's own colour, else the team's; None when neither chose one."""
    p = g.players.get(player)
    if p is None:
        return None
    if p.colour:
        return p.colour
    for t in show.teams:
        if t.name == p.team:
            return t.colour
    return None
