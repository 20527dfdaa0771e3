"""The podium firmware on the real MicroPython unix port (96k heap) against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from buzzline_protocol import topics

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware" / "tools"))

from unixpodium import Bus, UnixPodium, build_tree  # noqa: E402

pytestmark = [pytest.mark.broker, pytest.mark.micropython, pytest.mark.timeout(60)]

STUDIO = "s1"


@pytest.fixture(scope="session")
def fw_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("fw"))


@pytest.fixture
def bus(broker: Any) -> Iterator[Bus]:
    b = Bus(broker.port).connect()
    yield b
    b.close()


@pytest.fixture
def start_podium(fw_tree: Path, broker: Any, tmp_path: Path) -> Iterator[Callable[..., UnixPodium]]:
    running: list[UnixPodium] = []

    def start(pid: str = "p1", **extra: Any) -> UnixPodium:
        p = UnixPodium(fw_tree, tmp_path / pid, broker.port, pid=pid, studio=STUDIO, extra=extra)
        running.append(p)
        return p.start()

    yield start
    for p in running:
        p.stop()


def up(pid: str, kind: str) -> Callable[[str, dict[str, Any]], bool]:
    t = topics.podium(STUDIO, pid, "up")
    return lambda topic, m: topic == t and m["t"] == kind


def cmd_topic(pid: str = "p1") -> str:
    return topics.podium(STUDIO, pid, "cmd")


def test_hello_and_presence(bus: Bus, start_podium: Callable[..., UnixPodium]) -> None:
    start_podium("p1")
    hello = bus.wait_for(up("p1", "hello"), what="hello")
    assert hello["board"] == "unix" and hello["id"] == "p1" and hello["seq"] == 1
    pres_topic = topics.podium(STUDIO, "p1", "presence")
    pres = bus.wait_for(lambda t, m: t == pres_topic and m["state"] == "online", what="presence")
    assert pres["b"] == hello["b"]
    # the clock-sync burst starts by itself
    sync = bus.wait_for(lambda t, m: m["t"] == "sync", what="sync")
    assert sync["id"] == "p1" and sync["b"] == hello["b"]


def test_press_publishes_buzz_with_epoch(bus: Bus, start_podium: Callable[..., UnixPodium]) -> None:
    p = start_podium("p1")
    hello = bus.wait_for(up("p1", "hello"))
    bus.publish(cmd_topic(), {"t": "arm", "cs": 1, "ep": 7})
    p.wait(lambda: p.state()["armed"] == 1, what="armed")
    assert p.light() == "armed"
    assert p.cmd("press") == "ok"
    buzz = bus.wait_for(up("p1", "buzz"), what="buzz")
    assert buzz["ep"] == 7 and buzz["b"] == hello["b"]
    assert buzz["seq"] > hello["seq"] and buzz["pt"] > hello["pt"]
    # bounces right after the press are debounced away: still one buzz, after a release
    p.cmd("release")
    p.cmd("press")
    p.cmd("release")
    bus.publish(cmd_topic(), {"t": "lock", "cs": 2, "ep": 7})
    bus.wait_for(up("p1", "ack"), what="ack")
    assert len(bus.find(up("p1", "buzz"))) == 1


def test_lock_acks_after_earlier_presses_and_ignores_duplicates(
    bus: Bus, start_podium: Callable[..., UnixPodium]
) -> None:
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    all_cmd = topics.podium(STUDIO, topics.ALL, "cmd")
    bus.publish(all_cmd, {"t": "arm", "cs": 10, "ep": 3})
    p.wait(lambda: p.state()["armed"] == 1, what="armed")
    p.cmd("press")
    bus.publish(all_cmd, {"t": "lock", "cs": 11, "ep": 4})
    ack = bus.wait_for(up("p1", "ack"), what="ack")
    buzz = bus.wait_for(up("p1", "buzz"))
    assert ack["cs"] == 11 and ack["ep"] == 4
    # the watermark: the press captured before the lock was published before the ack
    assert buzz["seq"] < ack["seq"] and buzz["pt"] < ack["pt"]
    assert p.state()["armed"] == 0 and p.light() == "locked"
    # the same command again (QoS 1 redelivery) is dropped; commands are handled in order, so
    # once the later light command shows, the duplicate has been seen
    bus.publish(all_cmd, {"t": "lock", "cs": 11, "ep": 4})
    bus.publish(cmd_topic(), {"t": "light", "cs": 12, "pat": "solid", "col": "00ff00"})
    p.wait(lambda: p.light() == "solid", what="light")
    bus.publish(cmd_topic(), {"t": "lock", "cs": 13, "ep": 5})
    ack2 = bus.wait_for(lambda t, m: up("p1", "ack")(t, m) and m["cs"] == 13, what="second ack")
    assert ack2["seq"] > ack["seq"] and ack2["pt"] > ack["pt"]
    assert [m["cs"] for m in bus.find(up("p1", "ack"))] == [11, 13]


def test_light_and_identify_commands(bus: Bus, start_podium: Callable[..., UnixPodium]) -> None:
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    p.wait(lambda: p.light() == "idle", what="idle light")
    bus.publish(cmd_topic(), {"t": "light", "cs": 1, "pat": "winner"})
    p.wait(lambda: p.light() == "winner", what="winner light")
    bus.publish(cmd_topic(), {"t": "ident", "cs": 2, "dur": 60000})
    p.wait(lambda: p.light() == "identify", what="identify light")
    # a malformed command is rejected with a reason and changes nothing
    bus.publish(cmd_topic(), b'{"v":1,"t":"light","cs":3,"pat":"disco"}')
    bus.publish(cmd_topic(), {"t": "light", "cs": 4, "pat": "blink", "col": "0000ff"})
    p.wait(lambda: p.cmd("light?").startswith("blink 0000ff"), what="blink light")
    assert any("rejected" in line and "pat" in line for line in p.lines)


def test_broker_restart_delivers_pending_buzz_once(
    broker: Any, bus: Bus, start_podium: Callable[..., UnixPodium]
) -> None:
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    bus.publish(cmd_topic(), {"t": "arm", "cs": 1, "ep": 9})
    p.wait(lambda: p.state()["armed"] == 1, what="armed")
    # Hold the (simulated) Wi-Fi down so the podium cannot return before our subscriber does.
    p.cmd("wifi down")
    broker.kill()
    p.wait(lambda: p.state()["up"] == 0, what="link down")
    p.wait(lambda: p.light() == "offline", what="offline light")
    p.cmd("press")
    p.cmd("release")
    assert p.state()["pending"] >= 1
    broker.start()
    bus.close()
    bus2 = Bus(broker.port).connect()
    try:
        p.cmd("wifi up")
        try:
            buzz = bus2.wait_for(up("p1", "buzz"), what="pending buzz")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; podium state {p.state()}; log: {p.lines[-15:]}") from None
        hello2 = bus2.wait_for(up("p1", "hello"), what="hello after reconnect")
        assert buzz["ep"] == 9
        # its original timestamp: captured while offline, before the reconnect hello
        assert buzz["pt"] < hello2["pt"]
        # a later heartbeat proves the stream moved on; the buzz is there exactly once
        bus2.wait_for(lambda t, m: up("p1", "hb")(t, m) and m["seq"] > buzz["seq"], what="later hb")
        assert len(bus2.find(up("p1", "buzz"))) == 1
        assert p.state()["drops"] == 0
    finally:
        bus2.close()


def test_retained_config_applied_persisted_and_used_at_boot(
    bus: Bus, start_podium: Callable[..., UnixPodium], tmp_path: Path
) -> None:
    cfg_topic = topics.podium(STUDIO, "p1", "config")
    cfg = {"t": "config", "name": "Alice", "col": "20d040", "bri": 255, "deb": 15, "hb": 300}
    bus.publish(cfg_topic, cfg, retain=True)
    p = start_podium("p1")
    p.wait(lambda: p.cmd("light?").startswith("idle 20d040"), what="configured colour")
    cached = json.loads((tmp_path / "p1" / "podium_cfg.json").read_text())
    assert cached == {"name": "Alice", "col": "20d040", "bri": 255, "deb": 15, "hb": 300}
    # hb 300 ms applies: heartbeats with consecutive sequence numbers keep coming
    bus.wait_for(lambda t, m: up("p1", "hb")(t, m) and m["seq"] >= 4, what="heartbeats")
    p.stop()
    # without the retained message, the cached config still applies at boot
    bus.publish(cfg_topic, b"", retain=True)
    p2 = start_podium("p1")
    p2.wait(lambda: p2.cmd("light?").split()[1] == "20d040", what="cached colour")


def test_chatter_and_stuck_are_reported_once(bus: Bus, start_podium: Callable[..., UnixPodium]) -> None:
    p = start_podium("p1", stuck_ms=300)
    bus.wait_for(up("p1", "hello"))
    p.cmd("bounce 41")  # ends pressed
    chatter = bus.wait_for(lambda t, m: up("p1", "fault")(t, m) and m["code"] == "chatter", what="chatter")
    assert chatter["n"] >= 16
    stuck = bus.wait_for(lambda t, m: up("p1", "fault")(t, m) and m["code"] == "stuck", what="stuck")
    p.cmd("release")
    cleared = bus.wait_for(lambda t, m: up("p1", "fault")(t, m) and m["code"] == "cleared", what="cleared")
    assert cleared["seq"] > stuck["seq"]
    faults = bus.find(up("p1", "fault"))
    assert [f["code"] for f in faults].count("chatter") == 1
    assert [f["code"] for f in faults].count("stuck") == 1
    # the chattering contact did not flood buzzes
    assert len(bus.find(up("p1", "buzz"))) <= 1


def test_bad_local_config_fails_with_reason(fw_tree: Path, tmp_path: Path, broker: Any) -> None:
    p = UnixPodium(fw_tree, tmp_path / "bad", broker.port, extra={"broker": "127.0.0.1:notaport"})
    with pytest.raises(RuntimeError, match="broker must be HOST:PORT"):
        p.start(timeout=10)
    assert p.proc is not None and p.proc.returncode == 2


async def test_firmware_podium_wins_with_host_service(broker: Any, fw_tree: Path, tmp_path: Path) -> None:
    from buzzline.host_service import HostService

    async with HostService(broker.host, broker.port, STUDIO) as svc:
        p = UnixPodium(fw_tree, tmp_path / "p7", broker.port, pid="p7", studio=STUDIO).start()
        try:
            await asyncio.to_thread(p.wait, lambda: svc.clocks.model("p7", p.boot()).trusted, 15, "sync")
            await svc.command("read")
            await svc.command("arm")
            await asyncio.to_thread(p.wait, lambda: p.light() == "armed", 5, "armed")
            waiter = asyncio.ensure_future(svc.wait_decision(5))
            await asyncio.to_thread(p.cmd, "press")
            d = await waiter
            assert d.winner == "p7"
            await asyncio.to_thread(p.wait, lambda: p.light() == "winner", 5, "winner light")
        finally:
            await asyncio.to_thread(p.stop)
