"""A simulated podium whose broker dies handles the end of its connection itself: asyncio has no
disconnect error left over to log as a future's exception "never retrieved" (every simulated
podium logged one at each broker kill of ``bench chaos``)."""

from __future__ import annotations

import asyncio
import gc
import logging
import random
from typing import Any

import pytest
from buzzline.sim.podium import VirtualPodium

STUDIO = "kill"


async def test_a_broker_kill_leaves_no_unhandled_disconnect_error(
    broker: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="asyncio")
    pods = [VirtualPodium(f"k{i}", broker.host, broker.port, STUDIO, rng=random.Random(i)) for i in (1, 2)]
    for p in pods:
        await p.__aenter__()
    try:
        for _ in range(2):  # a kill while the podiums are up, then one soon after they are back
            async with asyncio.timeout(10):
                while not all(p.link_up.is_set() for p in pods):
                    await asyncio.sleep(0.02)
            broker.kill()
            async with asyncio.timeout(10):
                while any(p.link_up.is_set() for p in pods):
                    await asyncio.sleep(0.02)
            await asyncio.sleep(0.5)  # reconnect attempts against the dead broker
            broker.start()
        async with asyncio.timeout(10):
            while not all(p.connects == 3 for p in pods):
                await asyncio.sleep(0.02)
    finally:
        for p in pods:
            await p.stop(graceful=False)
    del pods, p
    gc.collect()  # an abandoned future logs its exception when it is collected
    await asyncio.sleep(0)
    leftovers = [r.getMessage() for r in caplog.records if "never retrieved" in r.getMessage()]
    assert not leftovers, leftovers
