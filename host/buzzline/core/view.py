"""What viewers see: ``game_view``, a pure function of the game's state shaped as the protocol's
``state`` message, and ``state_digest``, a fingerprint of the whole state for replay checks.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from buzzline.core.contract import GameView, OrderItem, PodiumView, ViewInfo
from buzzline.core.gamestate import GameState, Play
from buzzline.core.roster import display_colour
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


def state_digest(s: Play, next_deadline: int | None) -> str:
    """Comparable fingerprint of a game's whole state (two engines fed the same inputs agree)."""
    g = s.g
    body = {
        "view": game_view(g, s.show, s.podiums.presence, s.podiums.hellos),
        "locked_out": g.locked_out,
        "answering": g.answering,
        "locked": g.locked,
        "deadlines": [g.window_deadline, g.answer_deadline, next_deadline],
        "decisions": g.decisions,
        "decision": _decision_json(g.decision),
        "podiums": g.podiums,
        "undo": [(u.name, u.at_us) for u in s.undo],
        "redo": [(r.name, r.at_us) for r in s.redo],
    }
    blob = json.dumps(body, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()


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
