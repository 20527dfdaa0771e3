"""What viewers see: ``game_view``, a pure function of the game's state shaped as the protocol's
``state`` message, and a digest of the whole state for replay checks (the engine's mixin).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from buzzline.core.contract import GameView, OrderItem, PodiumView, ViewInfo
from buzzline.core.gamestate import GameState, Snapshot
from buzzline.core.roster import Roster, display_colour
from buzzline.core.show import Show
from buzzline.core.types import Decision


def game_view(g: GameState, show: Show, online: Mapping[str, bool], hello: Mapping[str, Any]) -> GameView:
    """What viewers see, from the game's state, its show and which podiums are online or said
    hello: shaped as the codec's ``state`` message (minus v and t). Pure: a function of these."""
    question = show.question(g.q)
    order: list[OrderItem] = []
    seats: dict[str, int] = {}
    for i, name in enumerate(g.players):
        seats.setdefault(name, i + 1)
    if g.decision is not None:
        for r in g.decision.order[:64]:
            item: OrderItem = {"podium": r.podium, "gap_us": r.gap_us, "err_us": r.err_us}
            if r.podium in g.podiums:
                item["player"] = g.podiums[r.podium]
            order.append(item)
    info: ViewInfo = {
        "title": show.title,
        "mode": show.rules.mode,
        "round": question.round if question else "",
        "value": question.value if question else 0,
        "result": g.result,
        "locked_out": list(g.locked_out),
        "podiums": {
            pid: _podium_view(g, show, online, pid, seats)
            for pid in sorted(set(g.podiums) | set(online) | set(hello))
        },
        "unassigned": sorted(pid for pid in set(online) | set(hello) if pid not in g.podiums),
    }
    if show.question_count is not None:
        info["questions"] = show.question_count
    if g.decision is not None and g.decision.flags:
        info["flags"] = sorted(g.decision.flags)
    out: GameView = {
        "phase": g.phase,
        "ep": g.ep,
        "q": g.q,
        "ts": max(0, g.ts),
        "order": order,
        "scores": dict(g.scores),
        "info": info,
    }
    if g.winner is not None:
        # the podium id, as on the wire; the player's name is in info
        out["winner"] = g.winner
        info["winner_player"] = g.winner_player or ""
    return out


def _podium_view(
    g: GameState, show: Show, online: Mapping[str, bool], pid: str, seats: dict[str, int]
) -> PodiumView:
    player = g.podiums.get(pid, "")
    out: PodiumView = {"player": player, "online": online.get(pid, False)}
    if player:
        out["seat"] = seats.get(player)  # as seat_of(pid), without a scan per podium
        out["col"] = display_colour(g, show, player)
        p = g.players.get(player)
        if p is not None and p.team is not None:
            out["team"] = p.team
    return out


class View(Roster):
    _undo: list[Snapshot]
    _redo: list[Snapshot]

    next_deadline: Callable[[], int | None]  # the engine's (core.game): part of the digest

    def view(self) -> GameView:
        """Viewer state: ``game_view`` of the engine's own state."""
        return game_view(self.g, self.show, self.podium_table.presence, self.podium_table.hellos)

    def state_digest(self) -> str:
        """Comparable fingerprint of the whole game state (two engines fed the same inputs agree)."""
        g = self.g
        body = {
            "view": self.view(),
            "locked_out": g.locked_out,
            "answering": g.answering,
            "locked": g.locked,
            "deadlines": [g.window_deadline, g.answer_deadline, self.next_deadline()],
            "decisions": g.decisions,
            "decision": _decision_json(g.decision),
            "podiums": g.podiums,
            "undo": [(s.name, s.at_us) for s in self._undo],
            "redo": [(s.name, s.at_us) for s in self._redo],
        }
        blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(blob.encode()).hexdigest()

    def _view_key(self) -> GameView:
        # view() builds fresh containers, so the dict itself is a snapshot to compare with ==
        # (a sorted JSON dump of it cost four times as much: 0.2 ms of every press, bench e2e)
        return self.view()


def _decision_json(d: Decision | None) -> dict[str, Any] | None:
    if d is None:
        return None
    return {
        "epoch": d.epoch,
        "winner": d.winner,
        "order": [[r.podium, r.mapped_us, r.err_us, r.gap_us, r.team] for r in d.order],
        "tied": list(d.tied),
        "tie_rule": d.tie_rule,
        "flags": sorted(d.flags),
        "decided_us": d.decided_us,
        "evidence": json.loads(json.dumps(d.evidence, sort_keys=True, default=str)),
    }
