"""The podium firmware on the real MicroPython unix port (96k heap) against a real Mosquitto."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
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
    b = Bus(broker.port, host_studio=STUDIO).connect()
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
    assert hello["board"] == "unix" and hello["id"] == "p1" and hello["seq"] == 0
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
    # the podium's output is read by another thread: wait for the line rather than race it
    p.wait(lambda: any("rejected" in line and "pat" in line for line in p.lines), what="rejection logged")


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
    # the button task queues the buzz on its own time: wait for it rather than race it
    p.wait(lambda: p.state()["pending"] >= 1, what="the buzz in the outbox")
    broker.start()
    bus.close()
    bus2 = Bus(broker.port, host_studio=STUDIO).connect()
    try:
        p.cmd("wifi up")
        try:
            buzz = bus2.wait_for(up("p1", "buzz"), what="pending buzz")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; podium state {p.state()}; log: {p.lines[-15:]}") from None
        try:
            hello2 = bus2.wait_for(up("p1", "hello"), what="hello after reconnect")
        except TimeoutError as e:
            seen = [(m["t"], m.get("seq")) for m in bus2.find(lambda t, m: True)]
            raise TimeoutError(f"{e}; seen {seen}; podium state {p.state()}; log: {p.lines[-15:]}") from None
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
    # the settings' code is loaded for the message and dropped after it, as start-up's is
    loaded = p.cmd("mods?").split()
    assert "podium.app" in loaded
    assert "podium.config" not in loaded and "podium.startup" not in loaded
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


def _mem(p: UnixPodium) -> dict[str, int]:
    return {k: int(v) for k, v in (w.split("=") for w in p.cmd("mem?").split())}


def test_armed_path_survives_1ms_light_polls_without_gc(
    bus: Bus, start_podium: Callable[..., UnixPodium]
) -> None:
    """Issue 9: 30 armed questions, the light polled every millisecond, a press in each, at 96k."""
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    all_cmd = topics.podium(STUDIO, topics.ALL, "cmd")
    for q in range(1, 31):
        bus.publish(all_cmd, {"t": "arm", "cs": 2 * q, "ep": q})
        p.wait(lambda: p.light() == "armed", what="armed")
        for i in range(60):
            assert p.light() in ("armed", "locked")
            if i == 30:
                p.cmd("press")
            time.sleep(0.001)
        bus.publish(all_cmd, {"t": "lock", "cs": 2 * q + 1, "ep": q})
        bus.wait_for(lambda t, m, q=q: up("p1", "ack")(t, m) and m["ep"] == q, what=f"ack {q}")
        p.cmd("release")
    mem = _mem(p)
    assert mem["memerr"] == 0 and mem["forced"] == 0, mem
    # what the podium allocated between two polls (harness included; the poll after a press
    # carries the buzz) and in a whole armed period (heartbeats, the press, the lock) stay far
    # below the GC reserve (4 KB)
    assert 0 < mem["poll_max"] < 1024 and mem["armed_max"] < 2048, mem
    assert mem["arm_free"] > 4096, mem
    assert not [line for line in p.lines if "MemoryError" in line or "Traceback" in line]
    acks = bus.find(up("p1", "ack"))
    assert [a["np"] for a in acks] == [1] * 30
    buzzes = bus.find(up("p1", "buzz"))
    assert [b["pt"] for b in buzzes] == [a["fp"] for a in acks]
    print(
        "free heap at arm", mem["arm_free"], "B; largest allocation between two polls", mem["poll_max"], "B"
    )


def test_ack_reports_earliest_press_and_count_of_its_epoch(
    bus: Bus, start_podium: Callable[..., UnixPodium]
) -> None:
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    bus.publish(cmd_topic(), {"t": "arm", "cs": 1, "ep": 5})
    p.wait(lambda: p.state()["armed"] == 1, what="armed")
    for _ in range(2):
        p.cmd("press")
        time.sleep(0.05)  # past the 20 ms debounce
        p.cmd("release")
        time.sleep(0.05)
    bus.publish(cmd_topic(), {"t": "lock", "cs": 2, "ep": 5})
    ack = bus.wait_for(lambda t, m: up("p1", "ack")(t, m) and m["cs"] == 2, what="ack")
    buzzes = bus.find(up("p1", "buzz"))
    assert len(buzzes) == 2 and ack["np"] == 2 and ack["fp"] == buzzes[0]["pt"] < ack["pt"]
    # a new epoch with no press: the count is 0 and there is no earliest press
    bus.publish(cmd_topic(), {"t": "lock", "cs": 3, "ep": 6})
    ack2 = bus.wait_for(lambda t, m: up("p1", "ack")(t, m) and m["cs"] == 3, what="second ack")
    assert ack2["np"] == 0 and "fp" not in ack2


def test_supervisor_restarts_a_dead_task_and_reports_it(
    bus: Bus, start_podium: Callable[..., UnixPodium]
) -> None:
    p = start_podium("p1")
    bus.wait_for(up("p1", "hello"))
    p.wait(lambda: p.cmd("light?").endswith(",".join(["8"] * 3)), what="idle light shown")
    assert p.cmd("kill 3") == "ok"  # the lights task
    hb = bus.wait_for(lambda t, m: up("p1", "hb")(t, m) and m.get("rst") == 1, 10, "hb with rst=1")
    assert hb["rst"] == 1
    # the restarted task drives the light again
    bus.publish(cmd_topic(), {"t": "light", "cs": 1, "pat": "solid", "col": "00ff00"})
    p.wait(lambda: p.cmd("light?") == "solid 00ff00 0,64,0", what="solid green shown")


def test_armed_encoders_match_the_codec_under_micropython(micropython: str) -> None:
    script = """
import sys
sys.path.insert(0, "firmware"); sys.path.insert(0, "protocol")
from buzzline_protocol import codec, upstream
from podium.startup import hello_tail, presence
from podium.wire import UpWriter
buf = bytearray(300)
bad = 0
for pid, boot in (("p1", 0), ("a" * 32, 2147483647)):
    w = UpWriter(pid, boot)
    for v in (0, 1, 9, 10, 12345, 2**31, 2**53 - 1):
        r = v % 2**31
        cases = (
            (lambda: w.hb(buf, 3, v, v, v, None, 0), {"t": "hb", "seq": v, "pt": v, "ep": v}),
            (lambda: w.hb(buf, 3, v, v, v, -61, r),
             {"t": "hb", "seq": v, "pt": v, "ep": v, "rssi": -61, "rst": r}),
            (lambda: w.buzz(buf, 3, v, v, v), {"t": "buzz", "seq": v, "pt": v, "ep": v}),
            (lambda: w.ack(buf, 3, v, v, v, v, v, 0),
             {"t": "ack", "seq": v, "pt": v, "cs": v, "ep": v, "np": 0}),
        )
        for write, msg in cases:
            end = write()
            if msg.get("rst") == 0:
                del msg["rst"]
            msg["id"] = pid
            msg["b"] = boot
            if bytes(buf[3:end]) != codec.encode(msg):
                bad += 1
                print("differs", msg, bytes(buf[3:end]))
        for hw, cap in (("a\\b", [35, v]), ('q"\\x01\\u00e9', None), ("unix-port", [0, 0])):
            hello = {"t": "hello", "id": pid, "b": boot, "seq": v, "pt": v, "hw": hw, "board": "esp32",
                     "fw": "0.2.0"}
            if cap is not None:
                hello["cap"] = cap
            end = UpWriter(pid, boot, hello_tail(hw, "esp32", "0.2.0", cap)).hello(buf, 3, v, v)
            if bytes(buf[3:end]) != codec.encode(hello):
                bad += 1
                print("differs", hello, bytes(buf[3:end]))
        for state in ("online", "offline"):
            msg = {"t": "presence", "id": pid, "state": state, "b": boot}
            if presence(pid, boot, state) != codec.encode(msg):
                bad += 1
                print("differs", msg, presence(pid, boot, state))
        for prev in (None, [1, v, v, 0, v]):
            end = w.sync(buf, 3, v % 2**31, v, prev)
            msg = {"t": "sync", "id": pid, "b": boot, "n": v % 2**31, "t1": v}
            if prev is not None:
                msg["prev"] = prev
            if bytes(buf[3:end]) != codec.encode(msg):
                bad += 1
                print("differs", msg, bytes(buf[3:end]))
        for code, n in (("stuck", 0), ("chatter", v % 2**31), ("cleared", 1)):
            end = w.fault(buf, 3, v, v, code, n)
            msg = {"t": "fault", "id": pid, "b": boot, "seq": v, "pt": v, "code": code}
            if n:
                msg["n"] = n
            if bytes(buf[3:end]) != codec.encode(msg):
                bad += 1
                print("differs", msg, bytes(buf[3:end]))
        end = w.ack(buf, 3, v, v, v, v, v, 7)
        msg = {"t": "ack", "id": pid, "b": boot, "seq": v, "pt": v, "cs": v, "ep": v, "fp": v, "np": 7}
        if bytes(buf[3:end]) != codec.encode(msg):
            bad += 1
            print("differs", msg, bytes(buf[3:end]))
print("bad", bad)
"""
    r = subprocess.run([micropython, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.strip().endswith("bad 0"), r.stdout + r.stderr


def test_bench_firmware_runs_real_podiums_through_the_generated_broker_config() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "bench", "firmware", "--podiums", "2", "--presses", "3",
         "--json"],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["lost"] == 0 and out["memory_errors"] == 0, out
    for k in ("press_to_lock_ms", "press_to_winner_light_ms"):
        assert 0 < out[k]["p50"] <= out[k]["p99"], out
    assert (
        out["press_to_lock_ms"]["p50"] < out["press_to_winner_light_ms"]["p99"] and out["heap_peak_kb"] <= 96
    )
    assert 0 < out["heap_free_at_arm_kb"] < 96
    bad = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "bench", "firmware", "--podiums", "0"],
        capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert bad.returncode == 2 and "at least 1" in bad.stderr and "Traceback" not in bad.stderr
