"""One line of plain words per game event, for terminals: the host's and the demo's.

Players by name (podium in brackets where it helps), times in ms with their unit, flags in words.
Works from the host's notice events (``buzzline.adapters.api.Notice``), which already carry names.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from buzzline.core.contract import podiums_of

SHORT_FLAG_WORDS = {
    "tie": "a tie",
    "timeout": "decided after the bounded wait for a slow podium",
    "uncertain_clock": "a podium's clock was not yet trusted (wide bound)",
    "provisional": "provisional until every podium reports",
    "gap_open": "a podium had lost messages",
    "overturned": "OVERTURNED: an earlier press arrived and replaced the first call",
}


def ms(us: int) -> str:
    return f"{us / 1000:.2f} ms"


def _name(item: Mapping[str, Any]) -> str:
    return str(item.get("player") or item.get("podium") or "?")


def decision_line(event: Mapping[str, Any]) -> str:
    """A ``winner`` or ``no_winner`` notice event as one line: winner, order with gaps and bounds, flags."""
    order = [o for o in event.get("order", []) if isinstance(o, Mapping)]
    if event.get("k") == "no_winner" and not order:
        return "nobody buzzed"
    parts = []
    for o in order:
        gap = "" if o is order[0] else f" +{ms(int(o.get('gap_us', 0)))}"
        parts.append(f"{_name(o)}{gap} (±{ms(int(o.get('err_us', 0)))})")
    if event.get("k") == "winner":
        head = f"winner {_name(event)} ({event.get('podium')})"
    else:
        tie = event.get("result") == "tie"
        head = "no winner: the tie rule leaves it to the host" if tie else "no winner"
    line = f"{head}; ring-in order: {', '.join(parts)}"
    flags = [f for f in event.get("flags", []) if f != "tie"]
    if event.get("tie_rule"):
        tied = [_name(o) for o in order if o.get("podium") in (event.get("tied") or [])] or None
        among = f" between {', '.join(tied)}" if tied else ""
        line += f"; TIE{among}, settled by rule {event['tie_rule']!r}"
    if flags:
        line += "; " + "; ".join(SHORT_FLAG_WORDS.get(f, f"flag {f}") for f in flags)
    return line


def event_line(event: Mapping[str, Any]) -> str | None:
    """The line a host terminal shows for a notice event, or None for events it leaves out."""
    k = event.get("k")
    if k in ("winner", "no_winner"):
        return decision_line(event)
    if k == "false_start":
        return f"FALSE START by {_name(event)}: locked out for {event.get('lockout_ms')} ms"
    return None


def names_of(view: Mapping[str, Any]) -> dict[str, str]:
    """podium -> player name, from the host's view."""
    return {pid: str(p["player"]) for pid, p in podiums_of(view).items() if p.get("player")}


def standings(scores: Mapping[str, int]) -> str:
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    return ", ".join(f"{i}. {name} {score}" for i, (name, score) in enumerate(ranked, 1)) or "no players"
