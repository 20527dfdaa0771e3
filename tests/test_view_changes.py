"""The engine says StateChanged exactly when the view changed: checked against views taken
before and after every input of random shows (the engine keeps the last view as the next
input's "before", so this is what keeps that shortcut honest)."""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core.game import GameEngine
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.test_game_fuzz import PODIUMS, make_show, step


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(("first", "ranked", "teams")),
    steps=st.lists(step, min_size=20, max_size=80),
)
def test_state_changed_iff_the_view_changed(mode: str, steps: list[tuple[Any, ...]]) -> None:
    eng = GameEngine(make_show(mode, "earliest"), seed=1)
    t = 1_000_000
    seqs: dict[str, int] = {}

    def check(e: ev.Event | None, now: int) -> None:
        before = eng.view()
        out = eng.tick(now) if e is None else eng.handle(e, now)
        changed = eng.view() != before
        said = any(isinstance(x, ev.StateChanged) for x in out)
        if isinstance(e, ev.PodiumWatermark) and out:  # the hot path says so whenever it acted
            assert said
        else:
            assert said == changed, (e, out)

    for kind, a, b in steps:
        if kind == "wait":
            t += a
            check(None, t)
        elif kind == "cmd":
            check(ev.Command(a, dict(b)), t)
        elif kind in ("acks", "buzz", "press"):
            if kind != "acks":
                seqs[a] = seqs.get(a, 0) + 1
                check(ev.PodiumPress(a, seqs[a], t - b, t - b, 300, True, t), t)
            if kind != "press":
                t += 2000
                for p in PODIUMS:
                    seqs[p] = seqs.get(p, 0) + 1
                    check(ev.PodiumWatermark(p, seqs[p], t, 200), t)
        elif kind == "wm":
            seqs[a] = seqs.get(a, 0) + 1
            check(ev.PodiumWatermark(a, seqs[a], t, 200), t)
        elif kind == "online":
            check(ev.PodiumOnline(a, {}), t)
        elif kind == "offline":
            check(ev.PodiumOffline(a), t)
        else:
            check(ev.PodiumHello(a, "hw", "board", "1.0"), t)
        t += 1000
