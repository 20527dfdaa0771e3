"""The fault proxy on a real broker: it keeps order under jitter and loss, delays, resets and
goes silent; and the chaos benchmark's scoring counts what it should."""

from __future__ import annotations

import asyncio
import random
import time

import aiomqtt
import pytest
from buzzline.benchmarks._chaos_score import LogFacts, TruePress, score
from buzzline.core.types import Decision, RingIn
from buzzline.io.broker import MosquittoBroker
from buzzline.sim.faultproxy import FaultProxy, LinkFaults


async def test_order_survives_jitter_and_loss_and_delay_is_added(broker: MosquittoBroker) -> None:
    proxy = FaultProxy(broker.host, broker.port, LinkFaults(delay_ms=5, jitter_ms=5, drop=0.05, rto_ms=20))
    await proxy.start()
    try:
        async with (
            aiomqtt.Client(broker.host, broker.port, identifier="sub") as sub,
            aiomqtt.Client("127.0.0.1", proxy.port, identifier="pub") as pub,
        ):
            await sub.subscribe("t/#", qos=1)
            t0 = time.monotonic()
            for i in range(100):
                await pub.publish(f"t/{i}", str(i).encode(), qos=1)
            got: list[int] = []
            async with asyncio.timeout(20):
                async for m in sub.messages:
                    got.append(int(bytes(m.payload)))  # type: ignore[arg-type]
                    if len(got) == 100:
                        break
            assert got == list(range(100))
            # each publish waits for its PUBACK: at least two proxy delays a message (a lower bound)
            assert time.monotonic() - t0 >= 100 * 2 * 0.005
        assert proxy.counts["dropped"] > 0 and proxy.counts["chunks"] >= 100
    finally:
        await proxy.stop()


async def test_reset_and_blackhole_break_the_link(broker: MosquittoBroker) -> None:
    proxy = FaultProxy(broker.host, broker.port, LinkFaults(), random.Random(1))
    await proxy.start()
    try:
        client = aiomqtt.Client("127.0.0.1", proxy.port, identifier="c1", keepalive=1)
        async with client:
            proxy.reset()
            with pytest.raises(aiomqtt.MqttError):
                async with asyncio.timeout(5):
                    async for _ in client.messages:
                        pass
        async with aiomqtt.Client("127.0.0.1", proxy.port, identifier="c2", keepalive=1) as c2:
            proxy.blackhole(4)
            with pytest.raises(aiomqtt.MqttError):  # the keepalive gives up on the silent link
                async with asyncio.timeout(6):
                    async for _ in c2.messages:
                        pass
        assert proxy.counts["resets"] == 1 and proxy.counts["blackholes"] == 1
    finally:
        await proxy.stop()


def test_deaf_spells_come_with_time_not_with_traffic() -> None:
    """A flaky radio's deaf spells are a process in time: a chatty podium is held during the same
    spells as a quiet one, and a message sent in a spell waits for its end."""
    every, longest = 0.5, 300.0

    def spells(send_every: float) -> tuple[list[tuple[float, float]], int]:
        faults = LinkFaults(hold_every_s=every, hold_max_ms=longest)
        proxy = FaultProxy("127.0.0.1", 1, faults, random.Random(7))
        seen: list[tuple[float, float]] = []
        held = 0
        t = 0.0
        while t < 60.0:
            end = proxy._deaf_until(t)
            if end:
                held += 1
                assert t < end <= t + longest / 1000
                if not seen or seen[-1][1] != end:
                    seen.append((t, end))
            t += send_every
        return seen, held

    quiet, quiet_held = spells(0.1)
    chatty, chatty_held = spells(0.005)
    ends = [e for _, e in chatty]
    # every spell the quiet sender met, the chatty one met too (the same timeline)
    assert {e for _, e in quiet} <= set(ends)
    # about one spell per (gap + half the longest), whoever sends: 60 s / 0.65 s ~ 92
    assert 60 <= len(chatty) <= 130
    # deaf about 0.15 / 0.65 of the time: the share of messages held does not grow with traffic
    assert 0.12 <= chatty_held / (60 / 0.005) <= 0.35 and 0.12 <= quiet_held / (60 / 0.1) <= 0.35


def _decision(
    epoch: int, winner: str, *order: str, flags: frozenset[str] = frozenset(), tied: tuple[str, ...] = ()
) -> Decision:
    rings = tuple(RingIn(p, 0, 0, 0, None) for p in order)
    return Decision(epoch=epoch, winner=winner, order=rings, tied=tied, flags=flags)


def test_the_chaos_score_counts_lost_doubled_wrong_and_timeouts() -> None:
    presses = [
        TruePress(0, 1, "p1", 100, 1_000),
        TruePress(0, 1, "p2", 200, 1_020),
        TruePress(1, 2, "p2", 300, 2_000),  # first, but its press never reached the host
        TruePress(1, 2, "p3", 400, 2_050),
        TruePress(2, 3, "p1", 500, 3_000),
        TruePress(3, 4, "p3", 600, 4_000),  # no decision at all
        TruePress(4, 5, "p2", 700, 5_000),  # first, declared tied with p1, the rule chose p1
        TruePress(4, 5, "p1", 800, 5_010),
    ]
    facts = LogFacts(
        received=[("p1", 100), ("p2", 200), ("p3", 400), ("p1", 500), ("p3", 600), ("p2", 700), ("p1", 800)],
        decisions=[
            _decision(1, "p2", "p2", "p1"),  # wrong, later overturned:
            _decision(1, "p1", "p1", "p2", flags=frozenset({"overturned"})),
            _decision(2, "p3", "p3"),  # wrong: p2's press was lost
            _decision(3, "p1", "p1", "p1", flags=frozenset({"timeout"})),  # doubled, at the cap
            _decision(5, "p1", "p1", "p2", flags=frozenset({"tie"}), tied=("p1", "p2")),
        ],
    )
    r = score(presses, facts, {"broker": [0.2, 0.4, 1.5], "broker_clock": [1.0]})
    assert (r["presses"], r["questions"], r["decided"]) == (8, 5, 4)
    assert (r["lost"], r["doubled"], r["wrong"], r["timeouts"], r["overturned"]) == (1, 1, 1, 2, 1)
    assert r["tie_calls"] == 1 and r["tie_cases"][0]["true"] == "p2"
    assert r["recovery_s"]["broker"] == {"p50": 0.4, "max": 1.5, "n": 3}
    assert r["clock_trust_s"]["broker"]["max"] == 1.0
