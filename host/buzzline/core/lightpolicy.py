"""The light policy: which pattern and colour each podium shows for the game's state.

Part of the game engine (a mixin over its state and roster).
"""

from __future__ import annotations

from buzzline.core import events as ev
from buzzline.core.roster import Roster


class LightPolicy(Roster):
    def _winner_light(self, podium: str) -> ev.Light:
        return ev.Light(podium, "winner", self._colour(self.g.podiums.get(podium, "")))

    def _podium_light(self, podium: str) -> list[ev.Effect]:
        """The light one podium should show now (it just came online or said hello)."""
        g = self.g
        player = g.podiums.get(podium)
        if player is None:
            return [ev.Light(podium, "identify")]
        if g.phase == "answering" and podium == g.answering:
            return [self._winner_light(podium)]
        if g.phase == "open" and not g.locked and player not in g.locked_out:
            return [ev.Light(podium, "armed")]
        if g.phase in ("open", "answering"):
            return [ev.Light(podium, "locked")]
        return [ev.Light(podium, "off" if g.phase == "ended" else "idle")]

    def resync(self) -> list[ev.Effect]:
        """Effects that put every podium's lights and arming back to the current state (after a restart)."""
        g = self.g
        out: list[ev.Effect] = []
        if g.phase == "open" and not g.locked:
            out.append(ev.Arm(g.ep))
            out.append(ev.Light("all", "armed"))
            out += [ev.Light(pid, "locked") for pid in self._excluded()]
        elif g.phase in ("open", "answering"):
            out.append(ev.Lock(g.ep, tuple(sorted(g.podiums))))
            out.append(ev.Light("all", "locked"))
            if g.answering is not None:
                out.append(self._winner_light(g.answering))
        elif g.phase == "ended":
            out.append(ev.Light("all", "off"))
        else:
            out.append(ev.Light("all", "idle"))
        out.append(ev.StateChanged())
        return out
