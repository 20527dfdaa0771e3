"""No silent wrong calls, end to end on a real broker: a provisional call made when the wait cap
ran out is overturned by an earlier buzz that arrives while the answer is still open."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import replace
from pathlib import Path

from buzzline.core.show import Show
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker
from buzzline.io.eventlog import EventLog
from buzzline.sim.podium import VirtualPodium

STUDIO = "overturn"


async def _trusted(svc: HostService, pod: VirtualPodium) -> None:
    async with asyncio.timeout(10):
        while True:
            model = svc.clocks.get(pod.pid)
            if model is not None and model.trusted:
                return
            await asyncio.sleep(0.02)


async def test_late_earlier_buzz_overturns_the_provisional_call(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    show = Show.default(["p1", "p2", "p3"])
    show = replace(show, rules=replace(show.rules, max_wait_ms=300, answer_ms=20_000))
    db = tmp_path / "show.db"
    async with HostService(broker.host, broker.port, STUDIO, show=show, log_path=db) as svc:
        notices = svc.notices.subscribe("test", replay_latest=False)
        pods = [
            VirtualPodium(f"p{i}", broker.host, broker.port, STUDIO, rng=random.Random(i)) for i in (1, 2, 3)
        ]
        async with contextlib.AsyncExitStack() as stack:
            for p in pods:
                await stack.enter_async_context(p)
            for p in pods:
                await _trusted(svc, p)
            p1, _p2, p3 = pods
            await svc.command("read")
            await svc.command("arm")
            for p in pods:
                await p.wait_light("armed")
            # p3's uplink stalls (a retransmission on its Wi-Fi): its buzz is stuck, pressed first
            p3.hold_uplink()
            await p3.press()
            await asyncio.sleep(0.03)
            waiter = asyncio.ensure_future(svc.wait_decision(5))
            await p1.press()
            first = await waiter
            # p2 acknowledged the lock; p3 said nothing: provisional at the cap, p1 named
            assert first.winner == "p1" and {"timeout", "provisional"} <= first.flags
            assert first.evidence["waiting_for"] == ["p3"]
            await p1.wait_light("winner")
            waiter = asyncio.ensure_future(svc.wait_decision(5))
            await p3.release_uplink()  # the stuck buzz arrives, answer still open
            second = await waiter
            assert second.winner == "p3" and "overturned" in second.flags
            assert second.evidence["overturned"]["winner"] == "p1"  # type: ignore[index]
            await p3.wait_light("winner")
            await p1.wait_light("locked")
            view = svc.engine.view()
            assert view["winner"] == "p3" and view["phase"] == "answering"
            assert "overturned" in view["info"]["flags"]
            # viewers and adapters were told
            async with asyncio.timeout(5):
                while True:
                    n = await notices.get()
                    over = n.of("overturned")
                    if over:
                        assert over[0]["was"]["podium"] == "p1" and n.of("winner")[0]["podium"] == "p3"
                        break
            assert svc.decisions == [first, second]
    # the log keeps both calls, in order
    with EventLog(db, readonly=True) as log:
        logged = [r.data["decision"] for r in log.records(kinds=["decision"])]
    assert [d["winner"] for d in logged] == ["p1", "p3"]
    assert "overturned" in logged[1]["flags"] and "provisional" in logged[0]["flags"]
