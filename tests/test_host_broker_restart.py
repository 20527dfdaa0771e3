"""A broker that dies and comes back: the host reconnects by itself, re-asserts the podiums'
lights and the viewer state, and goes on deciding."""

from __future__ import annotations

import asyncio
import contextlib
import random

import aiomqtt
from buzzline.host_service import HostService
from buzzline.sim.podium import VirtualPodium
from buzzline_protocol import codec, topics

STUDIO = "restart"


async def _podiums(stack, broker, n, seed):
    pods = []
    for i in range(n):
        p = VirtualPodium(f"r{i + 1}", broker.host, broker.port, STUDIO, rng=random.Random(seed + i))
        pods.append(await stack.enter_async_context(p))
    return pods


async def test_host_reconnects_after_broker_restart_and_keeps_deciding(broker):
    async with HostService(broker.host, broker.port, STUDIO) as svc, contextlib.AsyncExitStack() as stack:
        pods = await _podiums(stack, broker, 2, 1)
        async with asyncio.timeout(10):
            while not all(svc.clocks.model(p.pid, p.boot).trusted for p in pods):
                await asyncio.sleep(0.02)
        await svc.command("read")
        await svc.command("arm")
        await pods[0].wait_light("armed")
        waiter = asyncio.ensure_future(svc.wait_decision(5))
        await pods[0].press()
        assert (await waiter).winner == "r1"
        await svc.command("judge", correct=True)
        await svc.command("next")

        broker.kill()  # abrupt: every connection drops
        async with asyncio.timeout(5):
            while svc.connected.is_set():
                await asyncio.sleep(0.02)
        # the operator keeps working while the broker is away: commands are not lost
        await svc.command("read")
        broker.start()
        async with asyncio.timeout(15):
            await svc.connected.wait()
            # the same podiums reconnect by themselves, say hello again and resync their clock
            while not all(p.connects == 2 and p.link_up.is_set() for p in pods):
                await asyncio.sleep(0.02)
            while not all(svc.clocks.model(p.pid, p.boot).trusted for p in pods):
                await asyncio.sleep(0.02)
        # the retained viewer state is back on the broker: the reading phase of question 2
        async with aiomqtt.Client(broker.host, broker.port) as viewer:
            await viewer.subscribe(topics.game_state(STUDIO))
            async with asyncio.timeout(5):
                async for m in viewer.messages:
                    state = codec.decode(bytes(m.payload))
                    if state["q"] == 2 and state["phase"] == "reading":
                        break
        await svc.command("arm")
        await pods[1].wait_light("armed")
        waiter = asyncio.ensure_future(svc.wait_decision(5))
        await pods[1].press()
        d = await waiter
        assert d.winner == "r2"
        await pods[1].wait_light("winner")
    assert svc.engine.view()["scores"]  # the first question's score survived the outage
