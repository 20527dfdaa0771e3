"""The show model: players, teams, podium assignment, rules, rounds and adapter instances.

Pure values; the TOML show-file loader that builds them is ``buzzline.showfile``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from buzzline_protocol.codec import valid_id

MODES = ("first", "ranked", "teams")
# earliest: the earliest mapped time wins even inside the error bound (flagged as a tie);
# random: a seeded, logged draw among the tied; none: nobody wins a tie, the operator re-asks.
TIE_RULES = ("earliest", "random", "none")


@dataclass(frozen=True, slots=True)
class Rules:
    mode: str = "first"
    tie_rule: str = "earliest"
    false_start_ms: int = 250
    buzz_window_ms: int = 5000  # 0: the window stays open until the operator times it out
    answer_ms: int = 5000  # 0: no answer timer
    # absolute cap on the wait for podiums still missing after the first buzz (each podium's own
    # cap comes from its observed delays, docs/timing.md); the decision is then provisional
    max_wait_ms: int = 1000
    # the venue's allowance for the floors' difference up and down that no timestamp can see:
    # a share (percent) of half the floors' round trip in every clock bound (docs/timing.md,
    # "The bound"); None: 10% on a healthy path, up to 20% on a slow one (asymmetry_share)
    path_asymmetry_pct: int | None = None
    negative: bool = True  # an incorrect answer costs the question's value
    default_value: int = 100  # used when the show lists no rounds


@dataclass(frozen=True, slots=True)
class Player:
    name: str
    podium: str | None = None
    team: str | None = None
    colour: str | None = None


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    colour: str | None = None


@dataclass(frozen=True, slots=True)
class Card:
    """What the host reads out for one question, and its answer: shown in the operator console
    only, never in the view viewers get."""

    text: str = ""
    answer: str = ""


@dataclass(frozen=True, slots=True)
class Round:
    name: str
    values: tuple[int, ...]
    cards: tuple[Card, ...] = ()  # by question; may be shorter than values (or empty)


@dataclass(frozen=True, slots=True)
class Question:
    number: int  # 1-based across the whole show
    round: str
    value: int
    text: str = ""
    answer: str = ""


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """One ``[[adapters]]`` entry: the instance ``name``, its ``kind`` and that kind's settings."""

    name: str
    kind: str
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Show:
    title: str = "Buzzline show"
    players: tuple[Player, ...] = ()
    teams: tuple[Team, ...] = ()
    rules: Rules = field(default_factory=Rules)
    rounds: tuple[Round, ...] = ()
    # an unknown podium that says hello takes the first player without a podium
    assign_on_hello: bool = False
    adapters: tuple[AdapterSpec, ...] = ()

    def question(self, number: int) -> Question | None:
        """Question ``number`` (1-based); with no rounds the show has endless default-value questions."""
        if number < 1:
            return None
        if not self.rounds:
            return Question(number, "", self.rules.default_value)
        n = number
        for r in self.rounds:
            if n <= len(r.values):
                card = r.cards[n - 1] if n <= len(r.cards) else Card()
                return Question(number, r.name, r.values[n - 1], card.text, card.answer)
            n -= len(r.values)
        return None

    @property
    def question_count(self) -> int | None:
        if not self.rounds:
            return None
        return sum(len(r.values) for r in self.rounds)

    def player(self, name: str) -> Player | None:
        for p in self.players:
            if p.name == name:
                return p
        return None

    @classmethod
    def default(cls, podiums: list[str], mode: str = "first") -> Show:
        """A demo show: one player per podium ("Player 1"...), one round of five questions;
        podiums that say hello later are assigned on hello."""
        for pid in podiums:
            if not valid_id(pid):
                raise ValueError(f"bad podium id {pid!r}")
        teams: tuple[Team, ...] = ()
        if mode == "teams":
            teams = (Team("red", "ff2020"), Team("blue", "2060ff"))
        players = tuple(
            Player(
                f"Player {i + 1}",
                podium=pid,
                team=teams[i % len(teams)].name if teams else None,
            )
            for i, pid in enumerate(podiums)
        )
        return cls(
            title="Demo show",
            players=players,
            teams=teams,
            rules=Rules(mode=mode),
            rounds=(Round("Round 1", (100, 200, 300, 400, 500)),),
            assign_on_hello=True,
        )
