"""The adapter API and its runner: schemas, the notice bus, isolation, hot plug, and the host's
own failures surfacing. Real host service, real Mosquitto, virtual podiums."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import aiomqtt
import pytest
from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Notice, Status, validate_config
from buzzline.adapters.remote import RemoteFeed
from buzzline.adapters.runner import AdapterError, AdapterManager
from buzzline.host_service import HostService
from buzzline.notices import NoticeBus
from buzzline.sim.podium import VirtualPodium
from buzzline_protocol import topics

from tests.stage import question, stage

STUDIO = "adp"

# ---- schema ----------------------------------------------------------------------------------------

SCHEMA = (
    Field("host", "str", default="127.0.0.1", help="where"),
    Field("port", "int", default=9000, min=1, max=65535),
    Field("rate", "float", default=30.0, min=1, max=60),
    Field("preset", "choice", default="qlcplus", choices=("qlcplus", "eos")),
    Field("enabled", "bool", default=True),
    Field("allow", "list", default=["127.0.0.1/32"]),
    Field("path", "str", required=True),
)


def test_config_is_validated_with_defaults_and_field_reasons() -> None:
    got = validate_config(SCHEMA, {"path": "x", "port": 7700.0})
    assert got == {
        "host": "127.0.0.1",
        "port": 7700,
        "rate": 30.0,
        "preset": "qlcplus",
        "enabled": True,
        "allow": ["127.0.0.1/32"],
        "path": "x",
    }
    cases = [
        ({}, "path: required"),
        ({"path": "x", "port": 0}, "port: 0 is below the minimum 1"),
        ({"path": "x", "port": 7.5}, "port: expected a whole number"),
        ({"path": "x", "port": True}, "port: expected a number"),
        ({"path": "x", "rate": float("nan")}, "rate: must be a finite number"),
        ({"path": "x", "preset": "grandma"}, "preset: 'grandma' is not one of qlcplus, eos"),
        ({"path": "x", "enabled": "yes"}, "enabled: expected true or false"),
        ({"path": "x", "allow": "127.0.0.1"}, "allow: expected a list of text"),
        ({"path": "x", "prot": 1}, "prot: unknown setting"),
    ]
    for raw, words in cases:
        with pytest.raises(ConfigError) as info:
            validate_config(SCHEMA, raw)
        assert str(info.value).startswith(words), (raw, str(info.value))


# ---- the bus ---------------------------------------------------------------------------------------


def _notice(seq: int) -> Notice:
    return Notice(seq, seq * 10, ({"k": "view"},), {"q": seq})


async def test_bus_drops_oldest_per_subscriber_and_keeps_the_latest_view() -> None:
    bus = NoticeBus()
    slow = bus.subscribe("slow", maxsize=3)
    fast = bus.subscribe("fast", maxsize=100)
    for i in range(1, 11):
        bus.publish(_notice(i))  # never waits, whoever reads
    assert (slow.depth, slow.dropped) == (3, 7)
    assert [(await slow.get()).seq for _ in range(3)] == [8, 9, 10]
    assert [(await fast.get()).seq for _ in range(10)] == list(range(1, 11))
    assert fast.dropped == 0
    late = bus.subscribe("late")
    assert (await late.get()).view == {"q": 10}  # a new reader starts from the current view


# ---- adapters in a real host -------------------------------------------------------------------------


class Recorder(Adapter):
    KIND = "recorder"
    CONFIG_SCHEMA = (Field("crash_on", "str", default="", help="event kind that makes it raise"),)
    seen: list[Notice] = []
    starts = 0

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        await super().start(ctx, config)
        type(self).starts += 1

    async def handle(self, notice: Notice) -> None:
        type(self).seen.append(notice)
        if self.config["crash_on"] and notice.of(self.config["crash_on"]):
            raise RuntimeError(f"boom on {self.config['crash_on']}")


class Blocker(Adapter):
    KIND = "blocker"

    async def handle(self, notice: Notice) -> None:
        time.sleep(0.12)  # the bug the watchdog is there to name


async def _stage(
    broker: Any, n: int = 2
) -> tuple[contextlib.AsyncExitStack, HostService, list[VirtualPodium]]:
    stack, svc, podiums = await stage(broker, STUDIO, n)
    svc.adapters = AdapterManager(
        svc.notices, svc.view, svc._adapter_command, kinds={"recorder": Recorder, "blocker": Blocker}
    )
    stack.push_async_callback(svc.adapters.close)
    return stack, svc, podiums


async def _until(cond: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not cond():
            await asyncio.sleep(0.01)


async def test_a_crashing_adapter_is_restarted_while_the_question_is_decided(broker: Any) -> None:
    Recorder.seen, Recorder.starts = [], 0
    stack, svc, podiums = await _stage(broker)
    async with stack:
        svc.adapters.BACKOFF_MIN_S = 0.05
        crash = await svc.adapters.add("crashy", "recorder", {"crash_on": "locked"})
        d = await question(svc, podiums, podiums[1])
        assert d.winner == "p2"  # decided, whatever the adapter did
        await _until(lambda: crash.restarts >= 1 and crash.status is Status.OK)
        assert Recorder.starts >= 2
        snap = {a["name"]: a for a in svc.adapters.snapshot()}["crashy"]
        assert snap["restarts"] >= 1 and snap["kind"] == "recorder"
        await svc.command("judge", correct=True)
        await _until(lambda: any(n.of("judged") for n in Recorder.seen))
        judged = next(e for n in Recorder.seen for e in n.of("judged"))
        assert judged["podium"] == "p2" and judged["correct"] is True
        assert svc.engine.view()["scores"][judged["player"]] > 0


async def test_crash_marks_error_with_the_reason(broker: Any) -> None:
    Recorder.seen, Recorder.starts = [], 0
    stack, svc, _podiums = await _stage(broker, n=1)
    async with stack:
        svc.adapters.BACKOFF_MIN_S = 5.0  # stays down long enough to look at
        crash = await svc.adapters.add("crashy", "recorder", {"crash_on": "phase"})
        await svc.command("read")
        await _until(lambda: crash.status is Status.ERROR)
        assert crash.message == "RuntimeError: boom on phase"
        assert svc.engine.view()["phase"] == "reading"


async def test_bad_config_unknown_kind_and_hot_reconfigure(broker: Any) -> None:
    Recorder.seen, Recorder.starts = [], 0
    stack, svc, _podiums = await _stage(broker, n=1)
    async with stack:
        bad = await svc.adapters.add("bad", "recorder", {"crash_on": 5})
        assert bad.status is Status.BAD_CONFIG and bad.message == "crash_on: expected text, got 5"
        with pytest.raises(AdapterError, match="unknown adapter kind 'nope'"):
            await svc.adapters.add("x", "nope", {})
        with pytest.raises(AdapterError, match="already exists"):
            await svc.adapters.add("bad", "recorder", {})
        await svc.adapters.reconfigure("bad", {"crash_on": ""})
        await _until(lambda: bad.status is Status.OK)
        await svc.command("read")
        await _until(lambda: any(n.of("phase") for n in Recorder.seen))
        await svc.adapters.remove("bad")
        assert svc.adapters.snapshot() == []
        assert all(not s.name.startswith("adapter:") for s in svc.notices.subscribers)


async def test_a_blocking_handler_is_named_by_the_watchdog(broker: Any, caplog: Any) -> None:
    stack, svc, _podiums = await _stage(broker, n=1)
    async with stack:
        inst = await svc.adapters.add("slowpoke", "blocker", {})
        with caplog.at_level(logging.WARNING, logger="buzzline.adapters"):
            await svc.command("read")
            await _until(lambda: inst.stalls >= 1)
        assert any(
            "slowpoke" in r.getMessage() and "held the event loop" in r.getMessage() for r in caplog.records
        )


# ---- the same notices on the wire -----------------------------------------------------------------------


async def test_game_events_on_the_wire_rebuild_the_hosts_notices(broker: Any) -> None:
    stack, svc, podiums = await _stage(broker)
    async with stack:
        local = svc.notices.subscribe("test", maxsize=1000, replay_latest=False)
        feed = RemoteFeed(broker.host, broker.port, STUDIO)
        remote = feed.bus.subscribe("test", maxsize=1000, replay_latest=False)
        task = asyncio.create_task(feed.run())
        try:
            await asyncio.wait_for(feed.connected.wait(), 5)
            await asyncio.sleep(0.2)
            while local.get_nowait() is not None:
                pass
            await question(svc, podiums, podiums[0])
            await svc.command("judge", correct=False)
            await asyncio.sleep(0.3)
            want = []
            while (n := local.get_nowait()) is not None:
                want.append(n)
            kinds = [e["k"] for n in want for e in n.events]
            for k in ("phase", "armed", "locked", "winner", "judged", "reopened", "timer_started"):
                assert k in kinds, kinds
            got: list[Notice] = []

            def pump() -> bool:
                while (n := remote.get_nowait()) is not None:
                    if not n.of("link"):
                        got.append(n)
                return bool(got) and got[-1].seq >= want[-1].seq

            await _until(pump, 5)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        got = [n for n in got if n.seq >= want[0].seq]
        strip = [[{k: v for k, v in e.items() if v is not None} for e in n.events] for n in want]
        assert [n.seq for n in got] == [n.seq for n in want]
        assert [list(n.events) for n in got] == strip
        assert got[-1].view["phase"] == want[-1].view["phase"] == "open"


# ---- the host's own parts ----------------------------------------------------------------------------


async def test_a_dead_connection_task_stops_the_host_with_the_reason(broker: Any, caplog: Any) -> None:
    svc = HostService(broker.host, broker.port, STUDIO)
    await svc.start()
    try:

        async def boom(topic: str, payload: bytes, arrival_us: int) -> None:
            raise RuntimeError("ingest exploded")

        svc.handle_message = boom  # type: ignore[method-assign]
        with caplog.at_level(logging.CRITICAL, logger="buzzline.host"):
            async with aiomqtt.Client(broker.host, broker.port) as c:
                await c.publish(topics.podium(STUDIO, "p9", "up"), b"{}", qos=1)
            await asyncio.wait_for(svc.wait_stopped(), 5)
        assert isinstance(svc.failed, RuntimeError) and str(svc.failed) == "ingest exploded"
        assert not svc.connected.is_set()
        rec = [r for r in caplog.records if r.levelno == logging.CRITICAL]
        assert rec and rec[0].exc_info is not None and "host task failed" in rec[0].getMessage()
    finally:
        await svc.stop()
