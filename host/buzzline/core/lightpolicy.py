"""The light policy: which pattern and colour each podium shows, as pure functions of the game's
state (``GameState``) and a player's colour (``Play.colour``). The engine's transitions call
them; so could anything that holds a state (a replay, a test) without an engine.
"""

from __future__ import annotations

from collections.abc import Callable

from buzzline.core import events as ev
from buzzline.core.gamestate import GameState

ColourOf = Callable[[str], str | None]  # a player's own or team colour, None for the palette's


def winner_light(g: GameState, podium: str, colour_of: ColourOf) -> ev.Light:
    return ev.Light(podium, "winner", colour_of(g.podiums.get(podium, "")))


def podium_light(g: GameState, podium: str, colour_of: ColourOf) -> ev.Light:
    """The light one podium should show now (it just came online or said hello)."""
    player = g.podiums.get(podium)
    if player is None:
        return ev.Light(podium, "identify")
    if g.phase == "answering" and podium == g.answering:
        return winner_light(g, podium, colour_of)
    if g.phase == "open" and not g.locked and player not in g.locked_out:
        return ev.Light(podium, "armed")
    if g.phase in ("open", "answering"):
        return ev.Light(podium, "locked")
    return ev.Light(podium, "off" if g.phase == "ended" else "idle")


def resync_effects(g: GameState, colour_of: ColourOf) -> list[ev.Effect]:
    """Effects that put every podium's lights and arming back to the state (after a restart)."""
    out: list[ev.Effect] = []
    if g.phase == "open" and not g.locked:
        out.append(ev.Arm(g.ep))
        out.append(ev.Light("all", "armed"))
        out += [ev.Light(pid, "locked") for pid in g.locked_out_podiums()]
    elif g.phase in ("open", "answering"):
        out.append(ev.Lock(g.ep, tuple(sorted(g.podiums))))
        out.append(ev.Light("all", "locked"))
        if g.answering is not None:
            out.append(winner_light(g, g.answering, colour_of))
    elif g.phase == "ended":
        out.append(ev.Light("all", "off"))
    else:
        out.append(ev.Light("all", "idle"))
    out.append(ev.StateChanged())
    return out
