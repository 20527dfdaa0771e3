"""A studio on one machine for tests: the host service and virtual podiums on a test broker."""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from buzzline.core.types import Decision
from buzzline.host_service import HostService
from buzzline.sim.podium import VirtualPodium


async def stage(
    broker: Any, studio: str, n: int = 4, **host_kw: Any
) -> tuple[contextlib.AsyncExitStack, HostService, list[VirtualPodium]]:
    """A host and ``n`` podiums p1..pn, all online with trusted clocks; close the stack to stop them."""
    stack = contextlib.AsyncExitStack()
    svc = await stack.enter_async_context(HostService(broker.host, broker.port, studio, **host_kw))
    podiums = []
    for i in range(n):
        p = VirtualPodium(f"p{i + 1}", broker.host, broker.port, studio, rng=random.Random(i))
        podiums.append(await stack.enter_async_context(p))
    async with asyncio.timeout(10):
        await asyncio.gather(*(p.synced.wait() for p in podiums))
        while not all(svc.clocks.model(p.pid, p.boot).trusted for p in podiums):
            await asyncio.sleep(0.02)
    return stack, svc, podiums


async def until(cond: Any, what: str, timeout: float = 5.0) -> None:
    """Wait (polling each millisecond) until ``cond()`` holds; ``what`` names it in a timeout."""
    try:
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.001)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


async def question(svc: HostService, podiums: list[VirtualPodium], presser: VirtualPodium) -> Decision:
    """Read, arm, wait for every podium to show armed, press on ``presser``: the decision."""
    await svc.command("read")
    await svc.command("arm")
    async with asyncio.timeout(5):
        await asyncio.gather(*(p.wait_light("armed") for p in podiums))
    waiter = asyncio.ensure_future(svc.wait_decision(5))
    await presser.press()
    return await waiter
