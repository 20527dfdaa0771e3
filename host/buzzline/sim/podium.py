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

from buzzline.hosttime import now_us
from buzzline.io.broker import NODELAY
from buzzline.io.inbox import Inbox
from buzzline.io.mqttclient import FailFastClient, MessageInfo
from buzzline.lifecycle import Reconnect, Service, cancel_and_wait

log = logging.getLogger(__name__)


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
    _origin: int = field(default_factory=now_us)

    def now(self) -> int:
        return self.at(now_us())

    def at(self, host_us: int) -> int:
        """The podium's reading at a given host instant (for staging presses at exact times)."""
        t = host_us - self._origin
        return self.offset_us + t + int(t * self.skew_ppm / 1e6)


class VirtualPodium(Service):
    """One simulated podium. ``async with VirtualPodium(...)`` connects and says hello.

    It lives the podium life cycle of SPEC §12, as the firmware does. It keeps its link up by
    itself: a lost connection is retried (fast, then every second). Every upstream message waits
    in order; it takes its sequence number when it is first sent and stays in the outbox until
    the broker acknowledges it, so after a reconnect what was unacknowledged goes again, with the
    same boot and sequence numbers, ahead of anything new. Each connection starts with presence
    (with the SUBSCRIBE) and nothing else until the broker says where the host is.

    It follows the host's presence: ``up`` messages leave only while the host is online, so none
    is published to a broker where no host has subscribed yet (a broker restarted without
    persistence). Each time the host's presence turns online the podium says hello (ahead of
    what waited unsent) and runs a sync burst; when the host comes back after being seen offline
    (it restarted, its clock models are new) the burst comes first, then what waited. An
    ``askhello`` from the host gets a hello too.
    """

    HEARTBEAT_IDLE_S = 1.0
    HEARTBEAT_ARMED_S = 0.1
    # As the firmware does (docs/timing.md): a burst on connecting, 16 exchanges a second for a
    # minute, then four a second.
    SYNC_BURST = 8
    SYNC_BURST_GAP_S = 0.06
    SETTLE_S = 60.0
    SETTLE_PERIOD_S = 0.0625
    SYNC_PERIOD_S = 0.25
    SYNC_WAIT_S = 0.5  # one exchange in flight: the next waits for this one's reply, or this long
    SYNC_MORE_S = 0.015  # after a reply with more = 1 (clock not trusted yet): the next this soon
    SYNC_ARMED = 32  # while armed, steady exchanges pause once this many replies came back
    KEEPALIVE_S = 2

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
        self.connects = 0  # connections made, the first one included
        self._last_cs = -1
        self._sync_n = 0
        self._sync_sent: dict[int, int] = {}
        self._sync_prev: list[int] | None = None
        self._sync_open: tuple[int, float] | None = None  # (n, monotonic sent) awaiting its reply
        self._sync_more = False  # the last reply said more = 1
        self._sync_sent_at = 0.0  # monotonic, the last request
        self._exchanges = 0  # replies matched since the last burst began
        self.synced = asyncio.Event()
        self.link_up = asyncio.Event()
        self.host_up = asyncio.Event()  # the host's presence says online (on this connection)
        self._host_epoch = 0  # +1 each time the host's presence turns online
        self._host_was_down = False  # its presence said offline since this connection began
        self._burst_first = False  # hold up messages until the next burst is done
        self.light_changed = asyncio.Event()
        self._client: FailFastClient | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._publishes: set[asyncio.Task[None]] = set()
        self._up = topics.podium(studio, pid, "up")
        self._presence = topics.podium(studio, pid, "presence")
        # seq -> encoded up message, until the broker acknowledges it (insertion = seq order)
        self._outbox: dict[int, bytes] = {}
        # up messages not sent yet, without seq (None: a press the broker "lost", see press())
        self._unsent: list[dict[str, Any] | None] = []
        self._sent: set[int] = set()  # seqs published on the current connection
        self._wake = asyncio.Event()
        self._held = False

    def _presence_msg(self, state: str) -> bytes:
        return codec.encode({"t": "presence", "id": self.pid, "state": state, "b": self.boot})

    # -- lifecycle --
    async def start(self) -> None:
        await self._connect()  # the first connection's failure is the caller's to see
        self._tasks = [
            asyncio.create_task(self._link(), name=f"{self.pid}-link"),
            asyncio.create_task(self._sender(), name=f"{self.pid}-send"),
            asyncio.create_task(self._heartbeat(), name=f"{self.pid}-hb"),
            asyncio.create_task(self._sync_loop(), name=f"{self.pid}-sync"),
        ]

    async def _connect(self) -> None:
        client = FailFastClient(
            self.host,
            self.port,
            identifier=f"podium-{self.pid}",
            username=self.username,
            password=self.password,
            will=aiomqtt.Will(self._presence, self._presence_msg("offline"), qos=1, retain=True),
            keepalive=self.KEEPALIVE_S,
            timeout=5,
            max_inflight_messages=100,
            socket_options=NODELAY,
        )
        await client.__aenter__()
        try:
            # One SUBSCRIBE for every filter, and the presence right behind it: one round trip
            # after the CONNACK instead of six, as the firmware does (a link that stalls now and
            # then stalls a reconnect once, not six times). The broker handles them in order.
            subs = [(topics.podium(self.studio, self.pid, leaf), 1) for leaf in ("cmd", "syncr", "config")]
            subs.append((topics.podium(self.studio, topics.ALL, "cmd"), 1))
            subs.append((topics.host(self.studio, "presence"), 1))
            await asyncio.gather(
                client.subscribe(subs),
                client.publish(self._presence, self._presence_msg("online"), qos=1, retain=True),
            )
        except BaseException:
            await self._close(client)
            raise
        self._client = client
        self._sent.clear()  # what the broker has not acknowledged goes again, in order
        self.host_up.clear()  # until this broker says where the host is
        self._host_was_down = self._burst_first = False
        self.connects += 1
        self.link_up.set()

    def _hello(self, front: bool) -> None:
        """Queue a hello; ``front``: ahead of what waits unsent, so the host has the capture bound
        before it maps those presses (as the firmware does)."""
        hello: dict[str, Any] = {
            "t": "hello", "pt": self.clock.now(), "hw": "sim-" + self.pid, "board": self.board, "fw": "sim-1"
        }  # fmt: skip
        if self.cap is not None:
            hello["cap"] = self.cap
        self._queue_up(hello, front)

    async def _close(self, client: FailFastClient) -> None:
        with contextlib.suppress(Exception):
            async with asyncio.timeout(1):  # a dead broker would keep a DISCONNECT waiting
                await client.__aexit__(None, None, None)
        client.end_handled()  # the link loop has logged it (or the podium is going away)

    async def _link(self) -> None:
        """Read the connection; when it drops, reconnect (every 0.25 s or sooner for the first
        10 s, then every second)."""
        while True:
            client = self._client
            assert client is not None
            try:
                inbox = Inbox(client)  # each message stamped as it is read off the socket (t4)
                while True:
                    m = await inbox.get()
                    await self._on_message(m.topic, m.payload, m.read_us)
            except aiomqtt.MqttError as e:
                log.info("%s: link down (%s)", self.pid, e)
            self.link_up.clear()
            self.host_up.clear()
            self._client = None
            await self._close(client)
            retry = Reconnect(self.rng)
            while True:
                await asyncio.sleep(retry.delay())
                try:
                    await self._connect()
                    break
                except (aiomqtt.MqttError, OSError) as e:
                    log.debug("%s: reconnect failed (%s)", self.pid, e)

    async def stop(self, graceful: bool = True) -> None:
        await cancel_and_wait([*self._tasks, *self._publishes])
        self._tasks = []
        client, self._client = self._client, None
        self.link_up.clear()
        if client is not None:
            if graceful:
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(1):
                        await client.publish(
                            self._presence, self._presence_msg("offline"), qos=1, retain=True
                        )
            await self._close(client)

    async def crash(self) -> None:
        """Die like a podium losing power: no DISCONNECT, so the broker publishes the last will."""
        await cancel_and_wait([*self._tasks, *self._publishes])
        self._tasks = []
        client, self._client = self._client, None
        self.link_up.clear()
        if client is not None:
            client.cut()
            await self._close(client)

    # -- what a contestant does --
    async def press(self, at_podium_us: int | None = None, lose: bool = False) -> int:
        """Press the button (now, or stamped at a given podium time); returns the stamped podium time.
        The buzz is queued at once and sent as soon as the link allows.

        ``lose``: the buzz takes its sequence number and counts in the lock acknowledgement but is
        never published, as when the broker acknowledged it and then lost it."""
        return self.press_now(at_podium_us, lose)

    def press_now(self, at_podium_us: int | None = None, lose: bool = False) -> int:
        """``press`` without a loop pass: the buzz is queued before this returns."""
        pt = self.clock.now() if at_podium_us is None else at_podium_us
        if self.epoch != self._press_ep:
            self._press_ep, self._fp, self._np = self.epoch, pt, 1
        else:
            self._np += 1
            self._fp = min(self._fp, pt)
        if lose:
            self._unsent.append(None)  # takes its seq in turn: the host sees a gap
            self._send_ready()
        else:
            self._queue_up({"t": "buzz", "pt": pt, "ep": self.epoch})
        return pt

    async def wait_light(self, pattern: str, timeout: float = 5.0) -> LightState:
        async with asyncio.timeout(timeout):
            while self.light.pattern != pattern:
                self.light_changed.clear()
                await self.light_changed.wait()
        return self.light

    # -- internals --
    async def _send_up(self, msg: dict[str, Any]) -> None:
        self._queue_up(msg)

    def _queue_up(self, msg: dict[str, Any], front: bool = False) -> None:
        if front:
            self._unsent.insert(0, msg)
        else:
            self._unsent.append(msg)
        self._send_ready()

    def _hello_waiting(self) -> bool:
        return any(m is not None and m["t"] == "hello" for m in self._unsent)

    def _number(self, msg: dict[str, Any] | None) -> None:
        """Give the next unsent message its seq and move it to the outbox (first transmission)."""
        seq = self.seq
        self.seq += 1
        if msg is None:
            return  # the "lost" press: a seq the host never sees
        full = {"t": msg["t"], "id": self.pid, "b": self.boot, "seq": seq}
        for k, v in msg.items():
            if k != "t":
                full[k] = v
        self._outbox[seq] = codec.encode(full)

    @property
    def unacknowledged(self) -> int:
        """Upstream messages the broker has not acknowledged yet (sent or not)."""
        return len(self._outbox) + sum(m is not None for m in self._unsent)

    async def _sender(self) -> None:
        """Sends what waited for the link, the host or a sync burst, once that is over."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self._send_ready()

    def _send_ready(self) -> None:
        """The one place that publishes on ``up``: in seq order, each message once per connection,
        written to the socket at once when nothing waits ahead of it (as the firmware does)."""
        client = self._client
        if client is None or self._held or not self.host_up.is_set() or self._burst_first:
            return
        while self._unsent:
            self._number(self._unsent.pop(0))
        for seq, data in list(self._outbox.items()):
            if seq in self._sent:
                continue
            try:
                info = client.send_now(self._up, data, qos=1)
            except aiomqtt.MqttError:
                return  # the link task reconnects; what is unsent goes then, in order
            self._sent.add(seq)
            task = asyncio.create_task(self._confirm(client, seq, info))
            self._publishes.add(task)
            task.add_done_callback(self._publishes.discard)

    async def _confirm(self, client: FailFastClient, seq: int, info: MessageInfo) -> None:
        try:
            await client.confirmed(info)
        except aiomqtt.MqttError:
            return  # still in the outbox: it goes again on the next connection
        self._outbox.pop(seq, None)

    def hold_uplink(self) -> None:
        """Model a slow uplink: keep every upstream message, in order, until ``release_uplink``."""
        self._held = True

    async def release_uplink(self) -> None:
        self._held = False
        self._wake.set()

    async def _on_message(self, topic: str, payload: bytes, read_us: int) -> None:
        t4 = self.clock.at(read_us)
        try:
            msg = codec.decode(payload)
        except codec.ProtocolError as e:
            log.warning("%s: bad message on %s: %s", self.pid, topic, e)
            return
        kind = msg["t"]
        if kind == "presence" and msg["id"] == "host":
            self._on_host_presence(msg["state"] == "online")
        elif kind == "syncr":
            self._on_syncr(msg, t4)
        elif kind == "config":
            self.config = msg
        elif kind in ("arm", "lock", "light", "ident", "askhello"):
            if self.on_command:
                self.on_command(self, msg, read_us)
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
        elif kind == "askhello" and not self._hello_waiting():  # one waiting answers it
            self._hello(False)

    def _on_host_presence(self, online: bool) -> None:
        if not online:
            self.host_up.clear()
            self._host_was_down = True
            return
        if self.host_up.is_set():
            return
        self._host_epoch += 1
        if not self._hello_waiting():  # one still waiting from before does
            self._hello(True)
        # a host seen going down has new clock models: sync them before sending presses
        self._burst_first = self._host_was_down
        self._host_was_down = False
        self.host_up.set()
        self._send_ready()  # the hello now, ahead of the burst's first sync (as the firmware)

    def _on_syncr(self, msg: dict[str, Any], t4: int) -> None:
        n = msg["n"]
        t1 = self._sync_sent.pop(n, None)
        if t1 is None or t1 != msg["t1"]:
            return
        self._sync_prev = [n, t1, msg["t2"], msg["t3"], t4]
        self._exchanges += 1
        if self._sync_open is not None and self._sync_open[0] == n:
            self._sync_open = None
        self._sync_more = msg.get("more") == 1

    async def _send_sync(self) -> None:
        client = self._client
        if client is None or not self.host_up.is_set():  # nobody to answer it
            return
        n = self._sync_n
        self._sync_n += 1
        t1 = self.clock.now()
        self._sync_sent[n] = t1
        self._sync_sent_at = time.monotonic()
        self._sync_open = (n, self._sync_sent_at)
        if len(self._sync_sent) > 16:
            self._sync_sent.pop(min(self._sync_sent))
        m: dict[str, Any] = {"t": "sync", "id": self.pid, "b": self.boot, "n": n, "t1": t1}
        if self._sync_prev is not None:
            m["prev"] = self._sync_prev
            self._sync_prev = None
        topic, data = topics.podium(self.studio, self.pid, "sync"), codec.encode(m)
        # straight to the socket, as the firmware writes it: t1 is the instant it leaves
        with contextlib.suppress(aiomqtt.MqttError):  # QoS 0: a lost exchange is a lost sample
            if not client.send_qos0(topic, data):
                client.send_now(topic, data, qos=0)

    async def _sync_reply(self) -> None:
        """One exchange in flight, as the firmware (SPEC §12): a link that holds the uplink would
        only queue more requests behind the held one."""
        while (o := self._sync_open) is not None and time.monotonic() - o[1] < self.SYNC_WAIT_S:
            await asyncio.sleep(0.02)

    async def _sync_gap(self, gap: float) -> None:
        """Until ``gap`` after the last request (``SYNC_MORE_S`` while the host asks for more)."""
        while (
            left := (self.SYNC_MORE_S if self._sync_more else gap) - (time.monotonic() - self._sync_sent_at)
        ) > 0:
            await asyncio.sleep(min(left, 0.02))  # a reply with more = 1 may shorten the wait

    async def _sync_loop(self) -> None:
        seen = 0
        settle_until = 0.0
        while True:
            await self.host_up.wait()
            if self._host_epoch != seen:  # a burst each time the host is (back) online
                seen = self._host_epoch
                self._exchanges = 0
                self._sync_more = False
                for _ in range(self.SYNC_BURST):  # armed or not: what waits may wait for it
                    await self._send_sync()
                    await self._sync_reply()
                    await self._sync_gap(self.SYNC_BURST_GAP_S)
                await self._send_sync()  # carries the last burst sample
                self.synced.set()
                settle_until = time.monotonic() + self.SETTLE_S
                if self._host_epoch == seen and self._burst_first:
                    self._burst_first = False
                    self._wake.set()
                continue
            period = self.SETTLE_PERIOD_S if time.monotonic() < settle_until else self.SYNC_PERIOD_S
            await self._sync_gap(period * self.rng.uniform(0.8, 1.2))
            # As the firmware: no steady exchanges while armed (there each one allocates, with the
            # GC off) once SYNC_ARMED replies came back since the burst began, usually enough for
            # the host to trust the clock, unless the host still asks for more (it does not trust
            # it yet); the model allows for the pause (SPEC §4.4). A burst does not wait: after a
            # host restart mid-question the presses wait for it.
            while (
                self.armed
                and self._host_epoch == seen
                and self._exchanges >= self.SYNC_ARMED
                and not self._sync_more
            ):
                await asyncio.sleep(0.02)
            await self._sync_reply()
            if self._host_epoch == seen and self.host_up.is_set():
                await self._send_sync()

    def heartbeat(self) -> None:
        """Send a heartbeat now (benchmarks: to be heard at once after the host resubscribed)."""
        self._queue_up({"t": "hb", "pt": self.clock.now(), "ep": self.epoch, "rssi": -55})

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self.HEARTBEAT_ARMED_S if self.armed else self.HEARTBEAT_IDLE_S)
            if self.host_up.is_set():  # as the firmware: no heartbeats pile up while offline
                self._queue_up({"t": "hb", "pt": self.clock.now(), "ep": self.epoch, "rssi": -55})


class AutoPress:
    """An ``on_light`` callback: the podium's player presses with a human reaction time whenever
    the podium is armed (``buzzline sim``, and the demo's podiums when an operator runs the show)."""

    def __init__(self, rng: random.Random, reaction_s: tuple[float, float] = (0.15, 0.6)) -> None:
        self.rng = rng
        self.reaction_s = reaction_s
        self.pending: set[asyncio.Task[None]] = set()

    def __call__(self, p: VirtualPodium, light: LightState) -> None:
        if light.pattern != "armed":
            return

        async def later() -> None:
            await asyncio.sleep(self.rng.uniform(*self.reaction_s))
            if p.armed:
                await p.press()

        t = asyncio.create_task(later())
        self.pending.add(t)
        t.add_done_callback(self.pending.discard)
