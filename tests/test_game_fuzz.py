"""Random shows of commands and podium traffic: no input crashes the engine, a refused command
changes nothing, the view is always a valid state message, and a replay is exact."""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core.game import PHASES, GameEngine
from buzzline.core.show import Player, Round, Rules, Show, Team
from buzzline_protocol import codec
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

PODIUMS = ("p1", "p2", "p3", "p4", "p9")  # p9 is nobody's
ARGS: dict[str, list[dict[str, Any]]] = {
    "judge": [{"correct": True}, {"correct": False}, {}],
    "adjust": [{"player": "A", "delta": 25}, {"player": "X", "delta": 1}, {"player": "B", "delta": 0}],
    "assign": [
        {"podium": "p9", "player": "C"},
        {"podium": "p9", "player": "New", "create": True, "team": "t1"},
    ],
    "unassign": [{"podium": "p2"}, {"podium": "p9"}],
}

# "end" stops everything, so it is drawn rarely; arm and judge often, to reach whole questions
NAMES = [n for n in ev.COMMANDS if n != "end"] * 3 + ["arm", "arm", "judge", "judge", "end"]
command = st.sampled_from(NAMES).flatmap(
    lambda n: st.sampled_from(ARGS.get(n, [{}])).map(lambda a: ("cmd", n, a))
)
podium_input = st.tuples(
    st.sampled_from(("press", "wm", "online", "offline", "hello")),
    st.sampled_from(PODIUMS),
    st.integers(0, 3000),  # press: captured this many µs before arrival
)
step = st.one_of(
    command,
    command,
    command,
    podium_input,
    st.tuples(st.just("acks"), st.just(""), st.just(0)),
    # a press followed by everyone's lock acknowledgement: the common path to a decision
    st.tuples(st.just("buzz"), st.sampled_from(PODIUMS), st.integers(0, 3000)),
    st.tuples(st.just("buzz"), st.sampled_from(PODIUMS), st.integers(0, 3000)),
    st.tuples(st.just("wait"), st.integers(0, 3_000_000), st.just(0)),
)


def make_show(mode: str, tie_rule: str) -> Show:
    teams = (Team("t1"), Team("t2"))
    return Show(
        players=(
            Player("A", "p1", "t1"),
            Player("B", "p2", "t2"),
            Player("C", "p3", "t1"),
            Player("D", "p4", "t2"),
        ),
        teams=teams,
        rules=Rules(mode=mode, tie_rule=tie_rule, buzz_window_ms=2000, answer_ms=1500, max_wait_ms=100),
        rounds=(Round("R", (100, 200)),),
        assign_on_hello=mode != "first",
    )


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    mode=st.sampled_from(("first", "ranked", "teams")),
    tie_rule=st.sampled_from(("earliest", "random", "none")),
    seed=st.integers(0, 3),
    steps=st.lists(step, min_size=20, max_size=100),
)
def test_random_inputs_are_safe_and_replay_exactly(
    mode: str, tie_rule: str, seed: int, steps: list[tuple[Any, ...]]
) -> None:
    show = make_show(mode, tie_rule)
    eng = GameEngine(show, seed=seed)
    t = 1_000_000
    seqs: dict[str, int] = {}
    log: list[tuple[ev.Event | None, int]] = []
    effects: list[ev.Effect] = []

    def feed(e: ev.Event) -> list[ev.Effect]:
        log.append((e, t))
        out = eng.handle(e, t)
        effects.extend(out)
        return out

    for kind, a, b in steps:
        if kind == "wait":
            t += a
            log.append((None, t))
            effects.extend(eng.tick(t))
        elif kind in ("acks", "buzz"):
            if kind == "buzz":
                seqs[a] = seqs.get(a, 0) + 1
                feed(ev.PodiumPress(a, seqs[a], t - b, t - b, 300, True, t))
                t += 2000
            for p in PODIUMS:
                seqs[p] = seqs.get(p, 0) + 1
                feed(ev.PodiumWatermark(p, seqs[p], t, 200))
        elif kind == "cmd":
            log.append((None, t))
            effects.extend(eng.tick(t))
            before = eng.state_digest()
            out = feed(ev.Command(a, dict(b)))
            if any(isinstance(e, ev.CommandRefused) for e in out):
                assert out == [e for e in out if isinstance(e, ev.CommandRefused)]
                assert eng.state_digest() == before
        else:
            seqs[a] = seqs.get(a, 0) + 1
            if kind == "press":
                feed(ev.PodiumPress(a, seqs[a], t - b, t - b, 300, True, t))
            elif kind == "wm":
                feed(ev.PodiumWatermark(a, seqs[a], t, 200))
            elif kind == "online":
                feed(ev.PodiumOnline(a, {}))
            elif kind == "offline":
                feed(ev.PodiumOffline(a))
            else:
                feed(ev.PodiumHello(a, "hw", "board", "1.0"))
        t += 1000
        view = eng.view()
        assert view["phase"] in PHASES
        event(f"reached {view['phase']}")
        codec.decode(codec.encode({"t": "state", **view}))
        d = eng.next_deadline()
        assert d is None or isinstance(d, int)

    replay = GameEngine(show, seed=seed)
    again: list[ev.Effect] = []
    for e, when in log:
        again.extend(replay.tick(when) if e is None else replay.handle(e, when))
    assert again == effects
    assert replay.state_digest() == eng.state_digest()
