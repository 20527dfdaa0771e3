"""`bench fairness-live` through real Mosquitto and the real host process, and the rig's parts:
its delay proxy and relay process, the precise timer, and publishes written by their caller."""

from __future__ import annotations

import asyncio
import functools
import json
import time

import aiomqtt
import pytest
from buzzline.cli import main
from buzzline.io.broker import MosquittoBroker
from buzzline.io.mqttclient import DirectWriteClient, FailFastClient
from buzzline.sim.delayproxy import DelayProxy
from buzzline.sim.precise import PreciseTimer
from buzzline.sim.relayproc import RelayProcess


async def _first_ints(c: aiomqtt.Client, n: int) -> list[int]:
    got: list[int] = []
    async with asyncio.timeout(10):
        async for m in c.messages:
            got.append(int(bytes(m.payload)))
            if len(got) == n:
                break
    return got


async def test_delay_proxy_holds_each_direction_and_keeps_order(broker: MosquittoBroker) -> None:
    async with DelayProxy(broker.host, broker.port, lambda: 30_000, lambda: 20_000) as proxy:
        async with aiomqtt.Client("127.0.0.1", proxy.port, identifier="via-proxy") as c:
            await c.subscribe("t/x", qos=1)
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            for i in range(5):
                await c.publish("t/x", str(i).encode(), qos=1)
            got = await _first_ints(c, 5)
            # up and down each held at least their delay; TCP order kept
            assert time.monotonic() - t0 >= 0.05 and got == [0, 1, 2, 3, 4]
        assert proxy.chunks > 0


def test_fairness_live_prints_the_fairness_keys(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "fairness-live", "--profile", "lan", "--podiums", "3", "--races", "3", "--warmup", "1"]
    assert main([*args, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"profile", "seed", "trials", "races_by_gap_ms", "systems", "by_board", "resolved"} <= set(r)
    assert r["lost"] == 0 and r["trials"] == 3 and r["podiums"] == 3
    b = r["systems"]["buzzline"]
    assert set(r["systems"]) == {"buzzline", "arrival_order", "fixed_window"}
    assert b["presses"] >= 6 and b["wrong_rate"] == 0  # bounds honest: never a wrong call
    assert b["bound_coverage"] is not None and b["decision_latency_ms"]["p50"] > 0


def test_fairness_live_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness-live", "--profile", "nope", "--races", "1"]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err
    assert main(["bench", "fairness-live", "--races", "0"]) == 2


async def test_a_direct_publish_leaves_no_writer_registered(broker: MosquittoBroker) -> None:
    """aiomqtt registers its writer late (call_soon_threadsafe) and removes it at once; after a
    direct write the late registration must not stay behind (it would run on every loop pass)."""
    loop = asyncio.get_running_loop()
    for cls in (DirectWriteClient, FailFastClient):
        async with cls(broker.host, broker.port, identifier=f"direct-{cls.__name__}") as c:
            await c.subscribe("t/direct", qos=1)
            infos = [c.send_now("t/direct", str(i).encode(), qos=1) for i in range(5)]
            for info in infos:
                await c.confirmed(info)
            assert await _first_ints(c, 5) == [0, 1, 2, 3, 4]
            for _ in range(5):
                await asyncio.sleep(0)
            sock = c._client.socket()  # the paho socket, to ask the loop about its writer
            assert sock is not None
            # remove_writer says whether one was registered: nothing left to write, none may be
            assert loop.remove_writer(sock.fileno()) is False


async def test_send_now_when_not_connected_raises_mqtt_error(broker: MosquittoBroker) -> None:
    c = DirectWriteClient(broker.host, broker.port, identifier="never-connected")
    try:
        c.send_now("t/x", b"1", qos=1)
    except aiomqtt.MqttError:
        pass
    else:
        raise AssertionError("send_now on a client that never connected must raise")


async def test_precise_timer_wakes_in_order_and_never_early() -> None:
    timer = PreciseTimer()
    try:
        woke: list[tuple[int, float, float]] = []

        async def sleeper(i: int, at: float) -> None:
            await timer.sleep_until(at)
            woke.append((i, at, time.monotonic()))

        base = time.monotonic() + 0.02
        ats = [base + d for d in (0.010, 0.002, 0.006, 0.002, 0.0)]
        await asyncio.gather(*(sleeper(i, at) for i, at in enumerate(ats)))
        assert all(now >= at for _, at, now in woke)
        assert [i for i, _, _ in woke] == [4, 1, 3, 2, 0]  # by instant; equal instants as made
        ran: list[int] = []
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        t = time.monotonic() + 0.01
        for i in range(3):
            timer.call_at(t, functools.partial(ran.append, i))

        def finish() -> None:
            loop.call_soon_threadsafe(done.set)

        timer.call_at(t, finish)
        async with asyncio.timeout(5):
            await done.wait()
        assert ran == [0, 1, 2]
        await timer.sleep_until(time.monotonic() - 1)  # past: returns at once
    finally:
        timer.close()


async def test_relay_process_holds_each_link_and_takes_bursts(broker: MosquittoBroker) -> None:
    links = [{"index": 0, "asym": 0.0, "seed": 1.0}, {"index": 1, "asym": 0.0, "seed": 2.0}]
    async with RelayProcess(broker.host, broker.port, "wifi-bad", links) as relays:
        assert len(relays.ports) == 2 and all(relays.ports)
        await relays.set_bursts([200_000.0, 0.0])  # 200 ms more on link 0, each way

        async def round_trip(port: int, name: str) -> float:
            async with aiomqtt.Client("127.0.0.1", port, identifier=name, timeout=20) as c:
                await c.subscribe(f"t/{name}", qos=1)
                t0 = time.monotonic()
                await c.publish(f"t/{name}", b"x", qos=1)
                async with asyncio.timeout(20):
                    async for _ in c.messages:
                        return time.monotonic() - t0
            raise AssertionError("no message")

        slow = await round_trip(relays.ports[0], "slow")
        # wifi-bad floors are 3 ms each way: every hop is held at least that; the burst adds 200 ms
        assert slow >= 0.4
        fast = await round_trip(relays.ports[1], "fast")
        assert fast >= 0.006


async def test_send_qos0_writes_a_publish_subscribers_receive(broker: MosquittoBroker) -> None:
    """The raw QoS 0 write (sync request and reply) is a well-formed PUBLISH, in order with the
    rest; while paho has bytes waiting it declines, so nothing can interleave."""
    async with (
        DirectWriteClient(broker.host, broker.port, identifier="raw-pub") as pub,
        DirectWriteClient(broker.host, broker.port, identifier="raw-sub") as sub,
    ):
        await sub.subscribe("t/raw", qos=0)
        await asyncio.sleep(0.1)
        sent = [pub.send_qos0("t/raw", str(i).encode()) for i in range(3)]
        await pub.publish("t/raw", b"3", qos=0)
        assert sent == [True, True, True]
        assert await _first_ints(sub, 4) == [0, 1, 2, 3]
        pub._client._out_packet.append({"command": 0, "pos": 0})  # as if paho had a packet waiting
        try:
            assert pub.send_qos0("t/raw", b"9") is False
        finally:
            pub._client._out_packet.pop()
