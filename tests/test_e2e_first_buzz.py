"""A first buzz end to end: real Mosquitto, the host service, virtual podiums speaking protocol v1."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
from buzzline_protocol import codec, topics

from tests.stage import question, stage

STUDIO = "e2e"


async def _stage(broker, n: int = 4, **host_kw):
    return await stage(broker, STUDIO, n, **host_kw)


_question = question


async def test_press_lights_winner_and_locks_everyone_else(broker):
    stack, svc, podiums = await _stage(broker)
    async with stack:
        d = await _question(svc, podiums, podiums[1])
        assert d.winner == "p2"
        assert [r.podium for r in d.order] == ["p2"]
        # each podium was configured with the player it was assigned to on hello
        players = {p.pid: svc.engine.view()["info"]["podiums"][p.pid]["player"] for p in podiums}
        assert sorted(players.values()) == ["Player 1", "Player 2", "Player 3", "Player 4"]
        for p in podiums:
            assert p.config is not None and p.config["name"] == players[p.pid]
        winner = podiums[1]
        await winner.wait_light("winner")
        for p in podiums:
            if p is not winner:
                await p.wait_light("locked")
            # every podium was sent the lock for this question's epoch, and acknowledged it
            assert any(c["t"] == "lock" and c["ep"] == d.epoch for c in p.commands)
        # the viewer state on the broker names the winner
        async with aiomqtt.Client(broker.host, broker.port) as viewer:
            await viewer.subscribe(topics.game_state(STUDIO))
            async with asyncio.timeout(5):
                async for m in viewer.messages:
                    state = codec.decode(bytes(m.payload))
                    if state.get("winner") == "p2":
                        break


async def test_earlier_press_wins_even_when_it_arrives_later(broker):
    """Order by the podium's stamp of the button edge, not by arrival."""
    stack, svc, podiums = await _stage(broker, n=3)
    async with stack:
        await svc.command("read")
        await svc.command("arm")
        async with asyncio.timeout(5):
            await asyncio.gather(*(p.wait_light("armed") for p in podiums))
        waiter = asyncio.ensure_future(svc.wait_decision(5))
        await asyncio.sleep(0.1)  # both presses well after the arm instant
        t = time.monotonic_ns() // 1000
        # p3 pressed 20 ms before p1, but its uplink is slow: its buzz (and, behind it, its
        # acknowledgement of the lock) reach the host only after p1's buzz has locked everyone.
        podiums[2].hold_uplink()
        await podiums[2].press(at_podium_us=podiums[2].clock.at(t - 20_000))
        await podiums[0].press(at_podium_us=podiums[0].clock.at(t))
        async with asyncio.timeout(5):
            while not any(c["t"] == "lock" for c in podiums[2].commands):
                await asyncio.sleep(0.001)
        await asyncio.sleep(0.03)
        await podiums[2].release_uplink()
        d = await waiter
        assert d.winner == "p3", d
        assert [r.podium for r in d.order[:2]] == ["p3", "p1"]
        gap = d.order[1].gap_us
        assert abs(gap - 20_000) <= d.order[0].err_us + d.order[1].err_us + 1000


async def test_bad_traffic_is_rejected_with_reasons_and_host_keeps_deciding(broker):
    stack, svc, podiums = await _stage(broker, n=3)
    async with stack:
        up1 = topics.podium(STUDIO, "p1", "up")
        good = {"t": "buzz", "id": "p1", "b": podiums[0].boot, "seq": 10_000, "pt": 1, "ep": 0}
        bad = [
            (up1, b'{"v":1,"t":"buzz","id":"p1"', "json"),
            (up1, b'{"v":1,"t":"buzz","pad":"' + b"x" * 600 + b'"}', "size"),
            (up1, codec.encode(good).replace(b'"v":1', b'"v":9'), "version"),
            (up1, codec.encode(dict(good, id="p2")), "spoof"),
            (topics.podium(STUDIO, "p1", "sync"), codec.encode(good), "topic"),
            (up1, b"\xff\xfe", "json"),
            (up1, b'{"v":1,"t":"buzz","id":"p1","b":1,"seq":"x","pt":1,"ep":1}', "type"),
        ]
        async with aiomqtt.Client(broker.host, broker.port) as intruder:
            await intruder.subscribe(topics.host(STUDIO, "rejects"))
            for topic, payload, _ in bad:
                await intruder.publish(topic, payload, qos=1)
            reasons, counts = [], []
            async with asyncio.timeout(5):
                async for m in intruder.messages:
                    report = codec.decode(bytes(m.payload))
                    reasons.append(report["reason"])
                    counts.append(report["n"])
                    if len(reasons) == len(bad):
                        break
        assert sorted(reasons) == sorted(r for _, _, r in bad)
        # `n` is the running count of reports (SPEC §3.8), whatever the reason: no gap, none lost
        assert sorted(counts) == list(range(1, len(bad) + 1))
        for _, _, r in bad:
            assert svc.ingest.rejects[r] >= 1
        assert all(p.pid in svc.registry.podiums for p in podiums)
        # and the host still decides correctly afterwards
        d = await _question(svc, podiums, podiums[2])
        assert d.winner == "p3"
        await podiums[2].wait_light("winner")
