"""No silent wrong calls, end to end on a real broker: a provisional call made when the wait cap
ran out is overturned by an earlier buzz that arrives while the answer is still open; a buzz the
broker acknowledged and then lost is recovered from the podium's lock acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import replace
from pathlib import Path
from typing import Any

from buzzline.core.show import Show
from buzzline.core.types import Decision
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
                        assert over[0]["old"]["podium"] == "p1" and over[0]["new"]["podium"] == "p3"
                        assert n.of("winner")[0]["podium"] == "p3"
                        break
            assert svc.decisions == [first, second]
    # the log keeps both calls, in order
    with EventLog(db, readonly=True) as log:
        logged = [r.data["decision"] for r in log.records(kinds=["decision"])]
    assert [d["winner"] for d in logged] == ["p1", "p3"]
    assert "overturned" in logged[1]["flags"] and "provisional" in logged[0]["flags"]


class LossyPodium(VirtualPodium):
    """A podium whose buzz the broker acknowledged and then lost: the buzz uses a sequence number
    but never reaches the host; its lock acknowledgement declares the press (``fp``/``np``)."""

    def __init__(self, *args: object, declare: bool = True, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.declare = declare
        self.pressed: dict[int, list[int]] = {}

    async def press(self, at_podium_us: int | None = None) -> int:
        pt = self.clock.now() if at_podium_us is None else at_podium_us
        self.pressed.setdefault(self.epoch, []).append(pt)
        self.seq += 1  # sent (and acknowledged by the broker), then lost
        return pt

    async def _on_command(self, msg: dict[str, Any]) -> None:
        if msg["t"] != "lock" or msg["cs"] == self._last_cs:
            await super()._on_command(msg)
            return
        self._last_cs = msg["cs"]
        self.epoch, self.armed = msg["ep"], False
        ack: dict[str, Any] = {"t": "ack", "pt": self.clock.now(), "cs": msg["cs"], "ep": msg["ep"]}
        mine = self.pressed.get(msg["ep"], [])
        if self.declare:
            ack["np"] = len(mine)
            if mine:
                ack["fp"] = min(mine)
        await self._send_up(ack)


async def _lost_buzz_race(broker: MosquittoBroker, declare: bool) -> Decision:
    show = Show.default(["p1", "p2"])
    show = replace(show, rules=replace(show.rules, max_wait_ms=400))
    async with HostService(broker.host, broker.port, STUDIO, show=show) as svc:
        p1 = VirtualPodium("p1", broker.host, broker.port, STUDIO, rng=random.Random(1))
        p2 = LossyPodium("p2", broker.host, broker.port, STUDIO, rng=random.Random(2), declare=declare)
        async with p1, p2:
            await _trusted(svc, p1)
            await _trusted(svc, p2)
            await svc.command("read")
            await svc.command("arm")
            await p1.wait_light("armed")
            await p2.wait_light("armed")
            await p2.press()  # first, and lost between broker and host
            await asyncio.sleep(0.03)
            waiter = asyncio.ensure_future(svc.wait_decision(5))
            await p1.press()
            d = await waiter
            assert svc.registry.get("p2").seq_gaps >= 1  # the host saw the hole in p2's sequence
            return d


async def test_buzz_lost_after_the_broker_acked_it_is_recovered_from_the_lock_ack(
    broker: MosquittoBroker,
) -> None:
    d = await _lost_buzz_race(broker, declare=True)
    assert d.winner == "p2" and d.evidence["recovered"] == ["p2"]
    assert not {"timeout", "provisional", "gap_open"} & d.flags


async def test_without_the_declaration_the_gap_is_flagged_never_silent(broker: MosquittoBroker) -> None:
    d = await _lost_buzz_race(broker, declare=False)
    # an ack that declares nothing cannot cover the gap: the call waits, then says what it is
    assert d.winner == "p1" and {"timeout", "provisional", "gap_open"} <= d.flags
