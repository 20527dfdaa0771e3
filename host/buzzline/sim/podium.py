"""Virtual podiums that speak protocol v1 over a real MQTT broker.

Each podium has its own connection (with its own last will), its own clock (offset and
skew against the host's monotonic clock), a boot nonce and one upstream sequence counter,
exactly like the firmware. Tests and the demo press buttons with ``press()`` and read the
lights the host sent from ``light``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.io.broker import NODELAY
from buzzline.lifecycle import Service, cancel_and_wait

log = logging.getLogger(__name__)


def host_now_us() -> int:
    return time.monotonic_ns() // 1000


@dataclass
class LightState:
    pattern: str = "off"
    colour: str | None = None
    epoch: int | None = None
    cs: int = -1


@dataclass
class PodiumClock:
    """The podium's own clock, counting from its boot: podium_us = offset + t * (1 + skew),
    t being host time since the podium was created."""

    offset_us: int = 0
    skew_ppm: float = 0.0
    _origin: int = field(default_factory=host_now_us)

    def now(self) -> int:
        return self.at(host_now_us())

    def at(self, host_us: int) -> int:
        """The podium's reading at a given host instant (for staging presses at exact times)."""
        t = host_us - self._origin
        return self.offset_us + t + int(t * self.skew_ppm / 1e6)


class VirtualPodium(Service):
    """One simulated podium. ``async with VirtualPodium(...)`` connects and says hello."""

    HEARTBEAT_IDLE_S = 1.0
    HEARTBEAT_ARMED_S = 0.1
    # As the firmware does (docs/timing.md): a burst on connecting, 16 exchanges a second for a
    # minute, then four a second.
    SYNC_BURST = 8
    SYNC_BURST_GAP_S = 0.06
    SETTLE_S = 60.0
    SETTLE_PERIOD_S = 0.0625
    SYNC_PERIOD_S = 0.25

    def __init__(
        self,
        pid: str,
        broker_host: str,
        broker_port: int,
        studio: str = "demo",
        offset_us: int | None = None,
        skew_ppm: float | None = None,
        username: str | None = None,
        password: str | None = None,
        rng: random.Random | None = None,
        on_light: Callable[[VirtualPodium, LightState], None] | None = None,
        on_command: Callable[[VirtualPodium, dict[str, Any], int], None] | None = None,
        board: str = "sim",
        cap: list[int] | None = None,
    ) -> None:
        self.rng = rng or random.Random(pid)
        self.pid = pid
        self.host = broker_host
        self.port = broker_port
        self.studio = studio
        self.username = username
        self.password = password
        self.clock = PodiumClock(
            offset_us if offset_us is not None else self.rng.randint(0, 5_000_000),
            skew_ppm if skew_ppm is not None else self.rng.uniform(-50, 50),
        )
        self.boot = self.rng.randint(0, 0x7FFFFFFF)
        self.seq = 0
        self.epoch = 0
        self.armed = False
        self.board = board
        self.cap = cap  # hello.cap [p99_us, max_us], as a podium's selftest declares it
        # What the lock acknowledgement declares (ack.fp/np): presses of one epoch.
        self._press_ep = -1
        self._fp = 0
        self._np = 0
        self.light = LightState()
        self.on_light = on_light
        self.on_command = on_command
        self.commands: list[dict[str, Any]] = []
        self.config: dict[str, Any] | None = None
        self._last_cs = -1
        self._sync_n = 0
        self._sync_sent: dict[int, int] = {}
        self._sync_prev: list[int] | None = None
        self.synced = asyncio.Event()
        self.light_changed = asyncio.Event()
        self._client: aiomqtt.Client | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._up = topics.podium(studio, pid, "up")
        self._held: list[bytes] | None = None

    # -- lifecycle --
    async def start(self) -> None:
        will = aiomqtt.Will(
            topics.podium(self.studio, self.pid, "presence"),
            codec.encode({"t": "presence", "id": self.pid, "state": "offline", "b": self.boot}),
            qos=1,
            retain=True,
        )
        self._client = aiomqtt.Client(
            self.host,
            self.port,
            identifier=f"podium-{self.pid}",
            username=self.username,
            password=self.password,
            will=will,
            keepalive=10,
            max_inflight_messages=100,
            socket_options=NODELAY,
        )
        await self._client.__aenter__()
        c = self._client
        for leaf in ("cmd", "syncr", "config"):
            await c.subscribe(topics.podium(self.studio, self.pid, leaf), qos=1)
        await c.subscribe(topics.podium(self.studio, topics.ALL, "cmd"), qos=1)
        self._tasks = [
            asyncio.create_task(self._rx(), name=f"{self.pid}-rx"),
            asyncio.create_task(self._heartbeat(), name=f"{self.pid}-hb"),
            asyncio.create_task(self._sync_loop(), name=f"{self.pid}-sync"),
        ]
        await c.publish(
            topics.podium(self.studio, self.pid, "presence"),
            codec.encode({"t": "presence", "id": self.pid, "state": "online", "b": self.boot}),
            qos=1,
            retain=True,
        )
        hello: dict[str, Any] = {
            "t": "hello", "pt": self.clock.now(), "hw": "sim-" + self.pid, "board": self.board, "fw": "sim-1"
        }  # fmt: skip
        if self.cap is not None:
            hello["cap"] = self.cap
        await self._send_up(hello)

    async def stop(self, graceful: bool = True) -> None:
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._client is not None:
            if graceful:
                with contextlib.suppress(Exception):
                    await self._client.publish(
                        topics.podium(self.studio, self.pid, "presence"),
                        codec.encode({"t": "presence", "id": self.pid, "state": "offline", "b": self.boot}),
                        qos=1,
                        retain=True,
                    )
            with contextlib.suppress(Exception):
                await self._client.__aexit__(None, None, None)
            self._client = None

    # -- what a contestant does --
    async def press(self, at_podium_us: int | None = None, lose: bool = False) -> int:
        """Press the button (now, or stamped at a given podium time); returns the stamped podium time.

        ``lose``: the buzz takes its sequence number and counts in the lock acknowledgement but is
        never published, as when the broker acknowledged it and then lost it."""
        pt = self.clock.now() if at_podium_us is None else at_podium_us
        if self.epoch != self._press_ep:
            self._press_ep, self._fp, self._np = self.epoch, pt, 1
        else:
            self._np += 1
            self._fp = min(self._fp, pt)
        await self._send_up({"t": "buzz", "pt": pt, "ep": self.epoch}, lose=lose)
        return pt

    async def wait_light(self, pattern: str, timeout: float = 5.0) -> LightState:
        async with asyncio.timeout(timeout):
            while self.light.pattern != pattern:
                self.light_changed.clear()
                await self.light_changed.wait()
        return self.light

    # -- internals --
    async def _send_up(self, msg: dict[str, Any], lose: bool = False) -> None:
        if self._client is None:
            raise RuntimeError("podium not started")
        full = {"t": msg["t"], "id": self.pid, "b": self.boot, "seq": self.seq}
        for k, v in msg.items():
            if k != "t":
                full[k] = v
        self.seq += 1
        data = codec.encode(full)
        if lose:
            return  # it took a sequence number: the host sees a gap
        if self._held is not None:
            self._held.append(data)
            return
        await self._client.publish(self._up, data, qos=1)

    def hold_uplink(self) -> None:
        """Model a slow uplink: queue every upstream message, in order, until ``release_uplink``."""
        if self._held is None:
            self._held = []

    async def release_uplink(self) -> None:
        held, self._held = self._held or [], None
        assert self._client is not None
        for data in held:
            await self._client.publish(self._up, data, qos=1)

    async def _rx(self) -> None:
        assert self._client is not None
        async for m in self._client.messages:
            t4 = self.clock.now()
            try:
                msg = codec.decode(bytes(m.payload))
            except codec.ProtocolError as e:
                log.warning("%s: bad message on %s: %s", self.pid, m.topic, e)
                continue
            kind = msg["t"]
            if kind == "syncr":
                self._on_syncr(msg, t4)
            elif kind == "config":
                self.config = msg
            elif kind in ("arm", "lock", "light", "ident"):
                if self.on_command:
                    self.on_command(self, msg, host_now_us())
                await self._on_command(msg)

    async def _on_command(self, msg: dict[str, Any]) -> None:
        # Commands arrive on our own topic and on the broadcast one: cs is unique per host session,
        # so a repeat (QoS 1 redelivery) is ignored.
        cs = msg["cs"]
        if cs == self._last_cs:
            return
        self._last_cs = cs
        self.commands.append(msg)
        kind = msg["t"]
        if kind == "arm":
            self.epoch = msg["ep"]
            self.armed = True
        elif kind == "lock":
            self.epoch = msg["ep"]
            self.armed = False
            ack: dict[str, Any] = {"t": "ack", "pt": self.clock.now(), "cs": cs, "ep": msg["ep"], "np": 0}
            if self._press_ep == self.epoch and self._np:
                ack["fp"], ack["np"] = self._fp, self._np
            await self._send_up(ack)
        elif kind == "light":
            self.light = LightState(msg["pat"], msg.get("col"), msg.get("ep"), cs)
            self.armed = msg["pat"] == "armed"
            self.light_changed.set()
            if self.on_light:
                self.on_light(self, self.light)
        elif kind == "ident":
            self.light = LightState("identify", None, None, cs)
            self.light_changed.set()

    def _on_syncr(self, msg: dict[str, Any], t4: int) -> None:
        n = msg["n"]
        t1 = self._sync_sent.pop(n, None)
        if t1 is None or t1 != msg["t1"]:
            return
        self._sync_prev = [n, t1, msg["t2"], msg["t3"], t4]

    async def _send_sync(self) -> None:
        assert self._client is not None
        n = self._sync_n
        self._sync_n += 1
        t1 = self.clock.now()
        self._sync_sent[n] = t1
        if len(self._sync_sent) > 16:
            self._sync_sent.pop(min(self._sync_sent))
        m: dict[str, Any] = {"t": "sync", "id": self.pid, "b": self.boot, "n": n, "t1": t1}
        if self._sync_prev is not None:
            m["prev"] = self._sync_prev
            self._sync_prev = None
        await self._client.publish(topics.podium(self.studio, self.pid, "sync"), codec.encode(m), qos=0)

    async def _sync_loop(self) -> None:
        for _ in range(self.SYNC_BURST):
            await self._send_sync()
            await asyncio.sleep(self.SYNC_BURST_GAP_S)
        await self._send_sync()  # carries the last burst sample
        self.synced.set()
        settle_until = time.monotonic() + self.SETTLE_S
        while True:
            period = self.SETTLE_PERIOD_S if time.monotonic() < settle_until else self.SYNC_PERIOD_S
            await asyncio.sleep(period * self.rng.uniform(0.8, 1.2))
            await self._send_sync()

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT_ARMED_S if self.armed else self.HEARTBEAT_IDLE_S)
            await self._send_up({"t": "hb", "pt": self.clock.now(), "ep": self.epoch, "rssi": -55})
