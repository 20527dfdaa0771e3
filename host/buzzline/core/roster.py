"""The roster: which player stands at which podium, teams, and who may still buzz.

Part of the game engine (a mixin over its state): assignment commands, assignment on hello or
presence, and the questions the state machine asks about players and teams.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from buzzline_protocol.codec import valid_id

from buzzline.core import events as ev
from buzzline.core.gamestate import EngineParts, GameState, Refused
from buzzline.core.show import Player, Show

# a player's colour when neither the player nor the team has one (stable: hashed from the name)
PALETTE = ("ff2020", "2080ff", "20d040", "ffc000", "c040ff", "00d0d0", "ff8000", "ff60a0")


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


def display_colour(g: GameState, show: Show, player: str) -> str:
    """The colour a player's podium and panels show: the player's, the team's, or the palette's."""
    chosen = chosen_colour(g, show, player)
    return (chosen or PALETTE[sum(map(ord, player)) % len(PALETTE)]).lower()


class Roster(EngineParts):
    def seat_of(self, podium: str) -> int | None:
        """The podium's 1-based seat: its player's position in the show."""
        player = self.g.podiums.get(podium)
        if player is None:
            return None
        for i, name in enumerate(self.g.players):
            if name == player:
                return i + 1
        return None

    def display_colour(self, player: str) -> str:
        """The colour a player's podium and panels show: the player's, the team's, or the palette's."""
        return display_colour(self.g, self.show, player)

    def _cmd_assign(self, args: dict[str, Any], now: int) -> list[ev.Effect]:
        g = self.g
        podium = args.get("podium")
        player = args.get("player")
        if not isinstance(podium, str) or not valid_id(podium) or podium == "all":
            raise Refused(f"{podium!r} is not a podium id")
        if not isinstance(player, str) or not 0 < len(player) <= 32:
            raise Refused("player must be a name of 1 to 32 characters")
        if player not in g.players:
            if args.get("create") is not True:
                raise Refused(f"unknown player {player!r} (pass create: true to add a new player)")
            team = args.get("team")
            if team is not None and not any(t.name == team for t in self.show.teams):
                raise Refused(f"unknown team {team!r}")
            if self.show.rules.mode == "teams" and team is None:
                raise Refused("a new player needs a team in teams mode")
            g.players[player] = Player(player, team=team)
            g.scores[player] = 0
        # one podium per player: the player's old podium and the podium's old player are released
        for pid in [p for p, name in g.podiums.items() if name == player]:
            del g.podiums[pid]
        g.podiums[podium] = player
        return [ev.Logged("assigned", {"podium": podium, "player": player}), ev.Light(podium, "idle")]

    def _cmd_unassign(self, args: dict[str, Any], now: int) -> list[ev.Effect]:
        podium = args.get("podium")
        if not isinstance(podium, str) or podium not in self.g.podiums:
            raise Refused(f"podium {podium!r} is not assigned")
        player = self.g.podiums.pop(podium)
        return [ev.Logged("unassigned", {"podium": podium, "player": player}), ev.Light(podium, "off")]

    def _cmd_rename(self, args: dict[str, Any], now: int) -> list[ev.Effect]:
        """A player's new name, everywhere: podium, score, team, colour."""
        g = self.g
        old, new = args.get("player"), args.get("to")
        if not isinstance(old, str) or old not in g.players:
            raise Refused(f"unknown player {old!r}")
        if not isinstance(new, str) or not 0 < len(new.strip()) <= 32 or new != new.strip():
            raise Refused("to must be a name of 1 to 32 characters without surrounding spaces")
        if new in g.players:
            raise Refused(f"there is already a player named {new!r}")
        g.players = {
            (new if k == old else k): (replace(p, name=new) if k == old else p) for k, p in g.players.items()
        }
        g.scores = {(new if k == old else k): v for k, v in g.scores.items()}
        g.podiums = {pid: (new if name == old else name) for pid, name in g.podiums.items()}
        g.locked_out = [new if name == old else name for name in g.locked_out]
        if g.winner_player == old:
            g.winner_player = new
        podium = next((pid for pid, name in g.podiums.items() if name == new), None)
        return [ev.Logged("renamed", {"player": old, "to": new, "podium": podium})]

    def _assign_new(self, podium: str, by: str) -> list[ev.Effect]:
        g = self.g
        if podium in g.podiums:
            return []
        if not self.show.assign_on_hello:
            return [ev.Logged("unassigned_podium", {"podium": podium})]
        player = self._free_player()
        g.podiums[podium] = player
        return [ev.Logged("assigned", {"podium": podium, "player": player, "by": by})]

    def _free_player(self) -> str:
        g = self.g
        taken = set(g.podiums.values())
        for name in g.players:
            if name not in taken:
                return name
        n = len(g.players) + 1
        while f"Player {n}" in g.players:
            n += 1
        name = f"Player {n}"
        teams = self.show.teams
        team = teams[len(g.players) % len(teams)].name if teams else None
        g.players[name] = Player(name, team=team)
        g.scores[name] = 0
        return name

    def _team_of(self, player: str) -> str | None:
        p = self.g.players.get(player)
        return p.team if p is not None else None

    def _colour(self, player: str) -> str | None:
        return chosen_colour(self.g, self.show, player)

    def _excluded(self) -> list[str]:
        return self.g.locked_out_podiums()

    def _eligible(self) -> list[str]:
        return sorted(pid for pid, name in self.g.podiums.items() if name not in self.g.locked_out)
