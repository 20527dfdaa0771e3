"""A demo state for the viewer, made by the real game engine and bridge (no broker): the README
screenshots, the benchmark and theme work start from it.

``demo_state(players)`` plays two questions of a show: in the second, one player jumps the gun
and the others press within a few milliseconds,
so the frame shows a winner, the ring-in order with its gaps, a false
start still locked out, scores, and the answer timer draining.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from buzzline.core import events as ev
from buzzline.core.contract import NoticeEvent
from buzzline.core.game import GameEngine
from buzzline.core.show import Player, Round, Rules, Show, Team
from buzzline.gate.bridge import Bridge, state_message

NAMES = (
    "Ada",
    "Björn",
    "Chiara",
    "Dmitri",
    "Éloïse",
    "Farid",
    "Grete",
    "Hiroshi",
    "Ines",
    "Jonas",
    "Kalani",
    "Łucja",
    "Mateo",
    "Nnamdi",
    "Oona",
    "Priya",
)
MS = 1000
DEMO_WINDOW = {"width": 1280, "height": 720}


async def open_window(svc: Any) -> str:
    """``make demo``: the scoreboard window in the host (the ``viewer`` adapter) when there is a
    display; what happened, to print."""
    if not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY") or os.environ.get("SDL_VIDEODRIVER")
    ):
        return "viewer: no display (DISPLAY is not set): no scoreboard window, the show prints below"
    inst = await svc.adapters.add("screen", "viewer", DEMO_WINDOW)
    for _ in range(100):
        if inst.status in ("ok", "error", "disconnected"):
            break
        await asyncio.sleep(0.05)
    if inst.status != "ok":
        await svc.adapters.remove("screen")
        return f"viewer: no scoreboard window ({inst.message or inst.status})"
    return "viewer: scoreboard window open (Esc closes it; the show goes on)"


def demo_show(players: int = 6, teams: bool = False) -> Show:
    if not 1 <= players <= len(NAMES):
        raise ValueError(f"players must be 1 to {len(NAMES)}")
    team_list = (Team("Owls", "f4a261"), Team("Foxes", "2a9d8f")) if teams else ()
    return Show(
        title="Buzzline Quiz Night",
        players=tuple(
            Player(NAMES[i], podium=f"p{i + 1}", team=team_list[i % 2].name if team_list else None)
            for i in range(players)
        ),
        teams=team_list,
        rules=Rules(mode="teams" if teams else "first", false_start_ms=3000, answer_ms=8000),
        rounds=(Round("Round 1", (100, 200, 300, 400, 500)), Round("Round 2", (200, 400, 600, 800, 1000))),
    )


def demo_state(players: int = 6, teams: bool = False) -> dict[str, Any]:
    """``{"state": <game/state message>, "events": [<notice events>]}`` after a close race."""
    show = demo_show(players, teams)
    engine = GameEngine(show, seed=1)
    bridge = Bridge("demo", engine, 0)
    t = 1_000_000_000
    seq: dict[str, int] = {}
    events: list[NoticeEvent] = []

    def feed(e: ev.Event) -> None:
        events.extend(bridge.feed(e, t).rest(t).events)

    def press(pid: str, ago_us: int) -> None:
        seq[pid] = seq.get(pid, 0) + 1
        feed(ev.PodiumPress(pid, seq[pid], t - ago_us, t - ago_us, 250, True, t))

    pids = [f"p{i + 1}" for i in range(players)]
    for pid in pids:
        feed(ev.PodiumOnline(pid, {}))
    # question 1: a clean win for the second player
    feed(ev.Command("read", {}))
    feed(ev.Command("arm", {}))
    t += 900 * MS
    press(pids[1 % players], 0)
    t += 2 * MS
    for pid in pids:
        seq[pid] = seq.get(pid, 0) + 1
        feed(ev.PodiumWatermark(pid, seq[pid], t, 200, True))
    feed(ev.Command("judge", {"correct": True}))
    feed(ev.Command("next", {}))
    # question 2: a false start, then a close race
    events.clear()
    feed(ev.Command("read", {}))
    t += 400 * MS
    if players > 2:
        press(pids[-1], 0)  # jumps the gun while the question is read
    t += 300 * MS
    feed(ev.Command("arm", {}))
    t += 1200 * MS
    # the ring-in order: +0, +3.2, +11.4 and +41.0 ms behind the first press
    for pid, gap_us in zip(pids, (0, 3200, 11_400, 41_000), strict=False):
        press(pid, 50 * MS - gap_us)
    t += 2 * MS
    for pid in pids:
        seq[pid] = seq.get(pid, 0) + 1
        feed(ev.PodiumWatermark(pid, seq[pid], t, 200, True))
    if players > 4:
        feed(ev.PodiumOffline(pids[4]))
    return {"state": state_message(engine.view(), t), "events": events}
