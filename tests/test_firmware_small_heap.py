"""Memory headroom: firmware podiums on a smaller heap than the usual 96 KB play whole questions.

The real micropython unix port, a Mosquitto the test starts and the real HostService: each
question is read, armed, pressed on one podium, decided for it (its winner light on), judged
and closed; no MemoryError anywhere, and each podium reports the heap it had free at arm.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware" / "tools"))

from unixpodium import UnixPodium, build_tree, find_micropython  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.micropython, pytest.mark.timeout(120)]

STUDIO = "s1"
# The smallest heap the podium starts in on the 64-bit unix port (docs/firmware.md, "Memory
# budget": start-up, not the armed path, sets it); 96 KB is the usual test budget. On a 32-bit
# build (a board's word size: $BUZZLINE_MICROPYTHON, docs/firmware.md) the 64 KB.
SMALL_HEAP = {64: "91k", 32: "64k"}
QUESTIONS = 4


def _mem(p: UnixPodium) -> dict[str, int]:
    return {k: int(v) for k, v in (w.split("=") for w in p.cmd("mem?").split())}


@pytest.mark.flaky(reruns=2)  # real processes timed on a shared machine: a real fault fails every run
async def test_podiums_on_a_small_heap_play_whole_questions(broker: Any, tmp_path: Path) -> None:
    from buzzline.commands.flash import word_bits
    from buzzline.host_service import HostService

    heap = SMALL_HEAP[word_bits(find_micropython())]
    tree = build_tree(tmp_path / "fw")
    pids = ("p1", "p2")
    async with HostService(broker.host, broker.port, STUDIO) as svc:
        pods = [
            UnixPodium(tree, tmp_path / pid, broker.port, pid=pid, studio=STUDIO, heap=heap) for pid in pids
        ]
        try:
            for p in pods:
                await asyncio.to_thread(p.start)
            for p in pods:
                await asyncio.to_thread(
                    p.wait, lambda p=p: svc.clocks.model(p.pid, p.boot()).trusted, 20, "trusted clock"
                )
            for q in range(QUESTIONS):
                presser = pods[q % len(pods)]
                await svc.command("read")
                await svc.command("arm")
                for p in pods:
                    await asyncio.to_thread(p.wait, lambda p=p: p.light() == "armed", 5, "armed")
                waiter = asyncio.ensure_future(svc.wait_decision(5))
                await asyncio.to_thread(presser.cmd, "press")
                decision = await waiter
                assert decision.winner == presser.pid, (q, decision)
                await asyncio.to_thread(
                    presser.wait, lambda p=presser: p.light() == "winner", 5, "winner light"
                )
                await asyncio.to_thread(presser.cmd, "release")
                await svc.command("judge", correct=True)
                await svc.command("next")
            for p in pods:
                mem = await asyncio.to_thread(_mem, p)
                assert mem["memerr"] == 0 and mem["forced"] == 0, (p.pid, mem)
                assert 0 < mem["arm_free_min"] <= mem["arm_free"], (p.pid, mem)
                print(p.pid, "free heap at arm on", heap, mem["arm_free_min"], "B")
        finally:
            for p in pods:
                await asyncio.to_thread(p.stop)
    for p in pods:
        assert not [line for line in p.lines if "MemoryError" in line or "Traceback" in line], p.lines[-20:]
