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


async def test_the_only_press_lost_by_the_broker_is_recovered_at_the_windows_end(
    broker: Any, fw_tree: Path, tmp_path: Path
) -> None:
    """a's buzz is acknowledged by the broker and never reaches the host (here the host is not
    subscribed for a moment; in a crash the broker dies before delivering it), and nobody else
    presses: no buzz, so no lock. At the buzz window's end the host locks everyone anyway and
    a's acknowledgement declares the press (``ack.fp``/``np``): it is recovered and decides the
    question instead of a question nobody buzzed in."""
    import dataclasses

    from buzzline.core.show import Show
    from buzzline.host_service import HostService
    from buzzline_protocol import topics

    show = Show.default(["a", "b"])
    show = dataclasses.replace(show, rules=dataclasses.replace(show.rules, buzz_window_ms=1500))
    pods: list[UnixPodium] = []
    try:
        async with HostService(
            broker.host, broker.port, STUDIO, show=show, log_path=str(tmp_path / "show.db")
        ) as svc:
            for pid in "ab":
                p = UnixPodium(fw_tree, tmp_path / pid, broker.port, pid=pid, studio=STUDIO)
                pods.append(await asyncio.to_thread(p.start))
            a = pods[0]
            reg = svc.registry.podiums
            await _until(lambda: all(q in reg and reg[q].clock_trusted for q in "ab"), 20, "trusted clocks")
            await svc.command("read")
            await svc.command("arm")
            for p in pods:
                await asyncio.to_thread(p.wait, lambda p=p: p.light() == "armed", 5, "armed")
            client = svc._client
            assert client is not None
            up = topics.podium_filter(STUDIO, "up")
            await client.unsubscribe(up)
            await asyncio.to_thread(a.cmd, "press")
            await asyncio.to_thread(a.wait, lambda: a.state()["pending"] == 0, 5, "the buzz acknowledged")
            await asyncio.sleep(0.2)
            assert svc.engine.g.phase == "open" and not svc.engine.g.locked  # the host never had it
            await client.subscribe(up, qos=1)
            await _until(lambda: svc.engine.g.phase != "open", 10, "the window's end")
            assert svc.engine.g.phase == "answering" and svc.engine.g.answering == "a"
            d = svc.engine.g.decision
            assert d is not None and d.evidence["recovered"]
            await asyncio.to_thread(a.cmd, "release")
    finally:
        for p in pods:
            await asyncio.to_thread(p.stop)


SPENT_HEAP = """
import sys
sys.path.insert(0, "protocol")
from buzzline_protocol import codec, messages

class Spent:
    @staticmethod
    def loads(text):
        raise MemoryError

real = messages.json
messages.json = Spent
try:
    codec.decode(b'{"v":1,"t":"syncr","id":"p1","n":1,"t1":2,"t2":3,"t3":4}')
    print("decoded")
except MemoryError:
    print("memoryerror")
except codec.ProtocolError as e:
    print("rejected", e.reason)
messages.json = real
print(codec.decode(b'{"v":1,"t":"syncr","id":"p1","n":1,"t1":2,"t2":3,"t3":4}')["n"])
"""


@pytest.mark.parametrize("interpreter", ["micropython", "cpython"])
def test_a_spent_heap_is_no_verdict_on_a_message(interpreter: str, request: pytest.FixtureRequest) -> None:
    """Armed, the podium's GC is off: a command or a clock sync reply can meet a spent heap in
    the decoder. The podium collects and decodes again on a MemoryError; the codec used to turn
    it into "not valid JSON", so the message (a lock, a sync sample) was dropped as bad."""
    import subprocess

    exe = request.getfixturevalue("micropython") if interpreter == "micropython" else sys.executable
    r = subprocess.run([exe, "-c", SPENT_HEAP], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert r.stdout.split() == ["memoryerror", "1"], r.stdout + r.stderr
