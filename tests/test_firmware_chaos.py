"""Faults a studio meets, on the real firmware (MicroPython unix port, 96k heap), a real
Mosquitto and the real host service: the root causes `bench chaos --firmware` found."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware" / "tools"))

from unixpodium import UnixPodium, build_tree  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.micropython, pytest.mark.timeout(90)]

STUDIO = "s1"


@pytest.fixture(scope="module")
def fw_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("fw"))


async def _until(pred: Any, timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


async def test_press_made_while_the_link_was_down_overturns_the_call(
    broker: Any, fw_tree: Path, tmp_path: Path
) -> None:
    """b presses first with its link down (reset, radio off): the host sees b offline and names a,
    who pressed later. b's press waited in its outbox with its edge's timestamp; once b is back
    it arrives and, the answer still open, overturns the call (it was lost to a final call)."""
    from buzzline.host_service import HostService
    from buzzline.sim.faultproxy import FaultProxy

    proxy = FaultProxy(broker.host, broker.port, name="b")
    await proxy.start()
    pods: list[UnixPodium] = []
    try:
        async with HostService(broker.host, broker.port, STUDIO, log_path=str(tmp_path / "show.db")) as svc:
            a = UnixPodium(fw_tree, tmp_path / "a", broker.port, pid="a", studio=STUDIO)
            b = UnixPodium(fw_tree, tmp_path / "b", proxy.port, pid="b", studio=STUDIO)
            for p in (a, b):
                pods.append(await asyncio.to_thread(p.start))
            reg = svc.registry.podiums
            await _until(lambda: all(q in reg and reg[q].clock_trusted for q in "ab"), 20, "trusted clocks")
            await svc.command("read")
            await svc.command("arm")
            for p in (a, b):
                await asyncio.to_thread(p.wait, lambda p=p: p.light() == "armed", 5, "armed")
            await asyncio.to_thread(b.cmd, "wifi down")
            proxy.reset()
            await asyncio.to_thread(b.wait, lambda: b.state()["up"] == 0, 5, "link down")
            await asyncio.to_thread(b.cmd, "press")
            await _until(lambda: not reg["b"].online, 10, "b offline at the host")
            first = asyncio.ensure_future(svc.wait_decision(5))
            await asyncio.to_thread(a.cmd, "press")
            assert (await first).winner == "a"
            assert svc.engine.g.phase == "answering"
            await asyncio.to_thread(b.cmd, "wifi up")
            await _until(lambda: svc.engine.g.winner == "b" or svc.engine.g.answering == "b", 15, "overturn")
            for p in (a, b):
                await asyncio.to_thread(p.cmd, "release")
    finally:
        for p in pods:
            await asyncio.to_thread(p.stop)
        await proxy.stop()


async def test_presses_around_a_broker_crash_are_decided_and_none_is_lost(
    broker: Any, fw_tree: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """a presses; the broker is SIGKILLed 3 ms later; b presses 10 ms after a, with the broker
    down; the broker comes back empty after 1 s. b's buzz waits in its outbox and must reach the
    host, not a broker where the host has not subscribed again yet (it would be acknowledged and
    dropped): so b holds its up messages until the host's presence is online on the new
    connection. The question is decided and both presses are in the log."""
    from buzzline.benchmarks._chaos_score import read_log
    from buzzline.host_service import HostService
    from buzzline.lifecycle import Reconnect

    # the host comes back after its podiums (a slower machine): they reach the new broker first
    monkeypatch.setattr(Reconnect, "STEPS_S", (1.5,))
    pods: list[UnixPodium] = []
    log_path = tmp_path / "show.db"
    try:
        async with HostService(broker.host, broker.port, STUDIO, log_path=str(log_path)) as svc:
            for pid in "abc":
                p = UnixPodium(fw_tree, tmp_path / pid, broker.port, pid=pid, studio=STUDIO)
                pods.append(await asyncio.to_thread(p.start))
            a, b, _ = pods
            reg = svc.registry.podiums
            await _until(lambda: all(q in reg and reg[q].clock_trusted for q in "abc"), 20, "trusted clocks")
            await svc.command("read")
            await svc.command("arm")
            for p in pods:
                await asyncio.to_thread(p.wait, lambda p=p: p.light() == "armed", 5, "armed")

            def press_kill_press() -> dict[str, int]:
                before = b.cmd("pt?")
                a.cmd("press")
                time.sleep(0.003)
                broker.kill()
                time.sleep(0.007)
                b.cmd("press")
                b.wait(lambda: b.cmd("pt?") != before, 5, "b's press captured")
                return {"a": int(a.cmd("pt?").split()[1]), "b": int(b.cmd("pt?").split()[1])}

            pressed = await asyncio.to_thread(press_kill_press)
            for f in (tmp_path / "broker").glob("*.db"):
                f.unlink()  # back without persistence: nothing of the old broker's state
            await asyncio.sleep(1.0)
            await asyncio.to_thread(broker.start)
            await _until(lambda: svc.engine.g.phase == "answering", 15, "a decision")
            # b's buzz reaches the host once it is back, or its lock acknowledgement declares it
            await asyncio.to_thread(b.wait, lambda: b.state()["pending"] == 0, 10, "b's outbox empty")
            await asyncio.sleep(0.5)
            assert svc.engine.g.answering == "a"
            for p in (a, b):
                await asyncio.to_thread(p.cmd, "release")
    finally:
        for p in pods:
            await asyncio.to_thread(p.stop)
    facts = read_log(log_path)
    seen = set(facts.received)
    for d in facts.decisions:
        seen |= {(str(p["podium"]), int(p["podium_us"])) for p in d.evidence.get("presses", [])}
    assert {(pid, pt) for pid, pt in pressed.items()} <= seen, (pressed, facts.received)
