"""The roster: which player stands at which podium, teams, and who may still buzz.

Part of the game engine, as functions of its state: assignment commands (handlers in the engine's
command table), assignment on hello or presence, and the questions the state machine asks about
players and teams.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from buzzline_protocol.codec import valid_id

from buzzline.core import events as ev
from buzzline.core.gamestate import GameState, Play, Refused, chosen_colour
from buzzline.core.show import Player, Show

# a player's colour when neither the player nor the team has one (stable: hashed from the name)
PALETTE = ("ff2020", "2080ff", "20d040", "ffc000", "c040ff", "00d0d0", "ff8000", "ff60a0")


def display_colour(g: GameState, show: Show, player: str) -> str:
    """The colour a player's podium and panels show: the player's, the team's, or the palette's."""
    chosen = chosen_colour(g, show, player)
    return (chosen or PALETTE[sum(map(ord, player)) % len(PALETTE)]).lower()


def seat_of(g: GameState, podium: str) -> int | None:
    """The podium's 1-based seat: its player's position in the show."""
    player = g.podiums.get(podium)
    if player is None:
        return None
    for i, name in enumerate(g.players):
        if name == player:
            return i + 1
    return None


def team_of(g: GameState, player: str) -> str | None:
    p = g.players.get(player)
    return p.team if p is not None else None


def eligible(g: GameState) -> list[str]:
    """The assigned podiums whose players may still buzz in this question."""
    return sorted(pid for pid, name in g.podiums.items() if name not in g.locked_out)


# ---- the roster's commands (core.game's table) and its part of podium inputs -------------------


def _cmd_assign(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    g = s.g
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
        if team is not None and not any(t.name == team for t in s.show.teams):
            raise Refused(f"unknown team {team!r}")
        if s.show.rules.mode == "teams" and team is None:
            raise Refused("a new player needs a team in teams mode")
        g.players[player] = Player(player, team=team)
        g.scores[player] = 0
    # one podium per player: the player's old podium and the podium's old player are released
    for pid in [p for p, name in g.podiums.items() if name == player]:
        del g.podiums[pid]
    g.podiums[podium] = player
    return [ev.Logged("assigned", {"podium": podium, "player": player}), ev.Light(podium, "idle")]


def _cmd_unassign(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    podium = args.get("podium")
    if not isinstance(podium, str) or podium not in s.g.podiums:
        raise Refused(f"podium {podium!r} is not assigned")
    player = s.g.podiums.pop(podium)
    return [ev.Logged("unassigned", {"podium": podium, "player": player}), ev.Light(podium, "off")]


def _cmd_rename(s: Play, args: dict[str, Any], now: int) -> list[ev.Effect]:
    """A player's new name, everywhere: podium, score, team, colour."""
    g = s.g
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


def assign_new(s: Play, podium: str, by: str) -> list[ev.Effect]:
    """A podium that said hello or came online: a free player, when the show assigns on hello."""
    g = s.g
    if podium in g.podiums:
        return []
    if not s.show.assign_on_hello:
        return [ev.Logged("unassigned_podium", {"podium": podium})]
    player = _free_player(g, s.show)
    g.podiums[podium] = player
    return [ev.Logged("assigned", {"podium": podium, "player": player, "by": by})]


def _free_player(g: GameState, show: Show) -> str:
    taken = set(g.podiums.values())
    for name in g.players:
        if name not in taken:
            return name
    n = len(g.players) + 1
    while f"Player {n}" in g.players:
        n += 1
    name = f"Player {n}"
    teams = show.teams
    team = teams[len(g.players) % len(teams)].name if teams else None
    g.players[name] = Player(name, team=team)
    g.scores[name] = 0
    return name
