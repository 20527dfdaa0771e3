"""The viewer on a real show: in the host as the ``viewer`` adapter, and standalone on a secured
broker with the viewer account (real Mosquitto, the host service, virtual podiums; SDL's dummy
video driver stands in for the screen)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from buzzline.adapters.api import Status
from buzzline.adapters.remote import RemoteFeed
from buzzline.core.show import Player, Round, Rules, Show
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker
from buzzline.io.security import broker_extra_config, write_broker_config
from buzzline.sim.podium import VirtualPodium
from buzzline.viewer.window import ViewerWindow
from buzzline_protocol import topics
from paho.mqtt.enums import CallbackAPIVersion

os.environ["SDL_VIDEODRIVER"] = "dummy"
pytestmark = pytest.mark.broker
PIDS = ("p1", "p2", "p3")


def show() -> Show:
    return Show(
        title="Live",
        players=tuple(Player(f"Player {i + 1}", podium=pid) for i, pid in enumerate(PIDS)),
        rules=Rules(false_start_ms=30_000, answer_ms=30_000),
        rounds=(Round("R1", (100, 200)),),
    )


async def until(cond: Callable[[], bool], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def play(svc: HostService, podiums: list[VirtualPodium]) -> str:
    """One question: p3 jumps the gun while it is read, then p1 buzzes first. The winner's podium."""
    await svc.command("read")
    await podiums[2].press()
    async with asyncio.timeout(5):
        await podiums[2].wait_light("false")
    await svc.command("arm")
    async with asyncio.timeout(5):
        await podiums[0].wait_light("armed")
    waiter = asyncio.ensure_future(svc.wait_decision(5))
    await podiums[0].press()
    d = await waiter
    assert d.winner is not None
    return d.winner


async def stage(
    stack: contextlib.AsyncExitStack, host: str, port: int, studio: str, creds: dict[str, Any] | None = None
) -> tuple[HostService, list[VirtualPodium]]:
    creds = creds or {}
    hu, hp = creds.get("host", (None, None))
    svc = await stack.enter_async_context(
        HostService(host, port, studio, show=show(), username=hu, password=hp)
    )
    podiums = []
    for i, pid in enumerate(PIDS):
        pu, pp = creds.get(pid, (None, None))
        p = VirtualPodium(pid, host, port, studio, rng=random.Random(i), username=pu, password=pp)
        podiums.append(await stack.enter_async_context(p))
    async with asyncio.timeout(10):
        await asyncio.gather(*(p.synced.wait() for p in podiums))
        while not all(svc.clocks.model(p.pid, p.boot).trusted for p in podiums):
            await asyncio.sleep(0.02)
    return svc, podiums


async def test_in_host_viewer_adapter_shows_the_winner_and_the_false_start(broker: MosquittoBroker) -> None:
    async with contextlib.AsyncExitStack() as stack:
        svc, podiums = await stage(stack, broker.host, broker.port, "vin")
        inst = await svc.adapters.add("screen", "viewer", {"width": 640, "height": 360})
        await until(lambda: inst.status is Status.OK, "the window to open")
        assert inst.adapter is not None
        window: ViewerWindow = inst.adapter.window  # type: ignore[attr-defined]
        assert window is not None
        winner = await play(svc, podiums)
        await until(lambda: window.scene.view.get("winner") == winner, "the winner on screen")
        snap = window.scene.snapshot(time.monotonic() * 1000)
        assert snap["winner"]["player"] == "Player 1"
        p3 = next(p for p in snap["panels"] if p["podium"] == "p3")
        assert p3["false_start_ms"] is not None and p3["false_start_ms"] > 0
        assert window.frames > 0 and len(window.notice_to_pixels_ms) > 0
        # Esc in the window: its loop ends, the adapter stops, marked disconnected, the host goes on
        import pygame

        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE, mod=0, unicode="\x1b"))
        await until(lambda: inst.status is Status.DISCONNECTED, "the adapter to stop")
        assert inst.message == "window closed"
        assert svc.failed is None and svc.connected.is_set()


class PahoViewer:
    """A paho MQTT 5 client with the viewer account: reports what the broker says to a publish."""

    def __init__(self, broker: MosquittoBroker, user: str, password: str) -> None:
        self.c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="viewer-probe", protocol=mqtt.MQTTv5)
        self.c.username_pw_set(user, password)
        self.acks: dict[int, Any] = {}
        self.c.on_publish = lambda _c, _u, mid, rc, _p: self.acks.__setitem__(mid, rc)
        self.c.connect(broker.host, broker.port, keepalive=30)
        self.c.loop_start()

    async def publish(self, topic: str, payload: bytes) -> str:
        info = self.c.publish(topic, payload, qos=1)
        await until(lambda: info.mid in self.acks, f"the broker's answer to {topic}")
        return str(self.acks[info.mid].getName())

    def close(self) -> None:
        self.c.disconnect()
        self.c.loop_stop()


async def test_standalone_viewer_follows_a_secured_studio_and_cannot_publish(tmp_path: Path) -> None:
    studio = "vsec"
    sec = write_broker_config(tmp_path / "conf", studio, list(PIDS))
    (tmp_path / "broker").mkdir()
    b = MosquittoBroker(
        extra_config=broker_extra_config(tmp_path / "conf"),
        allow_anonymous=False,
        workdir=tmp_path / "broker",
    )
    b.start()
    try:
        creds: dict[str, Any] = {"host": (sec.host.username, sec.host.password)}
        creds.update({p: (c.username, c.password) for p, c in sec.podiums.items()})
        async with contextlib.AsyncExitStack() as stack:
            svc, podiums = await stage(stack, b.host, b.port, studio, creds)
            feed = RemoteFeed(b.host, b.port, studio, sec.viewer.username, sec.viewer.password)
            window = ViewerWindow(size=(640, 360))
            sub = feed.bus.subscribe("window")
            window.start_thread()
            stack.callback(window.join, 5)
            stack.callback(window.close)

            async def forward() -> None:
                async for n in sub:
                    window.post(n.view, n.events)

            tasks = [asyncio.create_task(feed.run()), asyncio.create_task(forward())]
            try:
                await until(lambda: feed.connected.is_set() and bool(window.scene.view), "the retained state")
                winner = await play(svc, podiums)
                await until(lambda: window.scene.view.get("winner") == winner, "the winner on the viewer")
                await until(lambda: "p3" in window.scene.false_starts, "the false start (from game/events)")
                assert window.scene.snapshot(time.monotonic() * 1000)["banner"] is None
            finally:
                for t in tasks:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t

            probe = PahoViewer(b, sec.viewer.username, sec.viewer.password)
            try:
                for topic in (
                    topics.game_state(studio),
                    topics.game_events(studio),
                    topics.host(studio, "presence"),
                    topics.podium(studio, topics.ALL, "cmd"),
                    topics.podium(studio, "p1", "up"),
                ):
                    assert await probe.publish(topic, b'{"v":1,"t":"state"}') == "Not authorized", topic
            finally:
                probe.close()
            assert svc.engine.view()["winner"] == winner  # the spoofs changed nothing

            # the host stops cleanly (no last will): the viewer still learns it has gone
            tasks = [asyncio.create_task(feed.run()), asyncio.create_task(forward())]
            try:
                await until(lambda: feed.connected.is_set(), "the feed to reconnect")
                await svc.stop()
                await until(
                    lambda: "host" in str(window.scene.snapshot(time.monotonic() * 1000)["banner"]),
                    "the host-gone banner",
                )
            finally:
                for t in tasks:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
    finally:
        b.stop()
