"""An operator command takes effect after every podium message that reached the host before it.

Found with `bench chaos --firmware` on a slow disk: each commit took a second or so, the podium
messages that came meanwhile waited in the host's inbox, and the operator's judge, sent later,
took the lock first. It settled the question before the press of the podium that had pressed
first (already at the host, held up by its radio until then), which was then refused as late:
a wrong winner, and the press lost. Real broker, real host service with its event log,
simulated podiums; the slow disk is the one thing stood in for (each commit waits 0.5 s)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from buzzline.core import events as ev
from buzzline.core.contract import podium_view
from buzzline.hosttime import now_us
from buzzline.io.broker import MosquittoBroker

from tests.stage import stage, until


async def test_a_judge_waits_for_a_press_that_reached_the_host_before_it(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    stack, svc, (p1, p2, p3) = await stage(broker, "order", n=3, log_path=tmp_path / "show.db")
    async with stack:
        await svc.command("read")
        await svc.command("arm")
        async with asyncio.timeout(5):
            await asyncio.gather(*(p.wait_light("armed") for p in (p1, p2, p3)))
        await asyncio.sleep(0.1)
        t = now_us()
        # p1 pressed 30 ms before p2, but its radio holds what it sends: the host calls p2 at its
        # bounded wait, provisional
        p1.hold_uplink()
        await p1.press(at_podium_us=p1.clock.at(t - 30_000))
        first = asyncio.ensure_future(svc.wait_decision(10))
        await p2.press(at_podium_us=p2.clock.at(t))
        d = await first
        assert d.winner == "p2" and "provisional" in d.flags, d

        # the disk turns slow: every commit of the event log takes 0.5 s
        log_ = svc._eventlog
        assert log_ is not None
        real = log_.flush

        def slow() -> None:
            time.sleep(0.5)
            real()

        log_.flush = slow  # type: ignore[method-assign]
        # a late press from p3 keeps the host's reader on its commit ...
        await p3.press()
        await until(lambda: svc._handling_us is not None, "the reader on p3's press")
        # ... while p1's radio comes back: its press reaches the host and waits in the inbox
        await p1.release_uplink()
        await until(lambda: svc._inbox is not None and len(svc._inbox) > 0, "p1's press at the host")
        assert svc._handling_us is not None  # the reader is still on p3's commit
        sent = now_us()
        # the operator judged the answer of p2, the winner the console showed
        effects = await svc.command("judge", correct=True, podium="p2")

        # p1's press, at the host before the judge, overturned the call first; the judge, which
        # named p2, is refused (it would score p1 for p2's answer); judged again, it is p1's
        assert svc.decisions[-1].winner == "p1" and "overturned" in svc.decisions[-1].flags
        refusals = [e.reason for e in effects if isinstance(e, ev.CommandRefused)]
        assert refusals and "p1 answers now, not p2" in refusals[0]
        await svc.command("judge", correct=True, podium="p1")
        view = svc.view()
        scores = view["scores"]
        assert (
            scores[podium_view(view, "p1")["player"]] > 0 and scores[podium_view(view, "p2")["player"]] == 0
        )
        # and in the log, no podium message that arrived before the judge comes after it
        inputs = [r.data for r in log_.records(kinds=["input"])]
        at = next(i for i, r in enumerate(inputs) if r["type"] == "Command" and r["event"]["name"] == "judge")
        assert all(r["now_us"] > sent for r in inputs[at + 1 :] if r["type"].startswith("Podium"))
