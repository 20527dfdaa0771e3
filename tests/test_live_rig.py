"""The live rig's parts: a publish written by its caller leaves no writer behind, the precise
timer keeps order and never wakes early, and the relay process applies its links' delays."""

from __future__ import annotations

import asyncio
import time

import aiomqtt
from buzzline.io.broker import MosquittoBroker
from buzzline.io.mqttclient import DirectWriteClient, FailFastClient
from buzzline.sim.precise import PreciseTimer
from buzzline.sim.relayproc import RelayProcess


async def test_a_direct_publish_leaves_no_writer_registered(broker: MosquittoBroker) -> None:
    """aiomqtt registers its writer late (call_soon_threadsafe) and removes it at once; after a
    direct write the late registration must not stay behind (it would run on every loop pass)."""
    loop = asyncio.get_running_loop()
    for cls in (DirectWriteClient, FailFastClient):
        async with cls(broker.host, broker.port, identifier=f"direct-{cls.__name__}") as c:
            await c.subscribe("t/direct", qos=1)
            infos = [c.publish_now("t/direct", str(i).encode(), qos=1) for i in range(5)]
            for info in infos:
                await c.confirmed(info)
            got = []
            async with asyncio.timeout(10):
                async for m in c.messages:
                    got.append(int(bytes(m.payload)))
                    if len(got) == 5:
                        break
            assert got == [0, 1, 2, 3, 4]
            for _ in range(5):
                await asyncio.sleep(0)
            sock = c._client.socket()
            assert sock is not None
            # remove_writer says whether one was registered: nothing left to write, none may be
            assert loop.remove_writer(sock.fileno()) is False


async def test_publish_now_when_not_connected_raises_mqtt_error(broker: MosquittoBroker) -> None:
    c = DirectWriteClient(broker.host, broker.port, identifier="never-connected")
    try:
        c.publish_now("t/x", b"1", qos=1)
    except aiomqtt.MqttError:
        pass
    else:
        raise AssertionError("publish_now on a client that never connected must raise")


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
            timer.call_at(t, lambda i=i: ran.append(i))
        timer.call_at(t, lambda: loop.call_soon_threadsafe(done.set))
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
