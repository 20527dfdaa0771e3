"""The host service: the MQTT bridge around the pure core.

One aiomqtt connection carries everything. Upstream podium traffic goes through
``Ingest`` (validate, check sender, drop repeats), clock-sync requests are answered at
once, presses and watermarks are mapped to host time by the ``ClockBook`` and fed to the
``GameEngine``. Every input the engine accepts, and every decision it makes, is appended
to the event log before its effects (lock, lights, viewer state) go out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.core import events as ev
from buzzline.core.clock import ClockBook
from buzzline.core.game import GameEngine
from buzzline.core.registry import PodiumRegistry
from buzzline.core.show import Show
from buzzline.core.types import Decision
from buzzline.io.broker import NODELAY
from buzzline.io.eventlog import EventLog, to_record
from buzzline.io.ingest import QUIET, Accepted, Ingest, Rejected
from buzzline.lifecycle import Service, cancel_and_wait
from buzzline.replay import SHOW_RECORD, logged_show, rebuild

log = logging.getLogger("buzzline.host")

PALETTE = ("ff2020", "2080ff", "20d040", "ffc000", "c040ff", "00d0d0", "ff8000", "ff60a0")


def now_us() -> int:
    return time.monotonic_ns() // 1000


def _printable(text: str, limit: int) -> str:
    """Echo untrusted text into a reject safely: printable ASCII only, within the field limit."""
    safe = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
    return safe[:limit]


class HostService(Service):
    """Run with ``async with HostService(...) as host:``; operator commands via ``await host.command()``."""

    RECONNECT_MIN_S = 0.2
    RECONNECT_MAX_S = 5.0

    def __init__(
        self,
        broker_host: str,
        broker_port: int,
        studio: str = "demo",
        show: Show | None = None,
        log_path: str | Path | None = None,
        username: str | None = None,
        password: str | None = None,
        seed: int = 0,
        on_effect: Callable[[object], None] | None = None,
    ) -> None:
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.studio = studio
        self.show = show if show is not None else Show.default([])
        self.username = username
        self.password = password
        self._seed = seed
        self.engine = GameEngine(self.show, seed=seed)
        self.clocks = ClockBook()
        self.ingest = Ingest(studio)
        self.registry = PodiumRegistry()
        self.on_effect = on_effect
        self.decisions: list[Decision] = []
        self.connected = asyncio.Event()
        self._log_path = Path(log_path) if log_path else None
        self._eventlog: EventLog | None = None
        self._client: aiomqtt.Client | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._cs = (time.time_ns() // 1000) % (1 << 40)  # unique across host restarts
        self._lock_cs = -1
        self._inflight: set[asyncio.Task[None]] = set()
        self._lock = asyncio.Lock()
        self._decision_waiters: list[asyncio.Future[Decision]] = []
        self._rng = random.Random(seed)
        self._configured: dict[str, dict[str, Any]] = {}

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._log_path is not None:
            self._open_log()
        self._tasks = [
            asyncio.create_task(self._connection_loop(), name="host-mqtt"),
            asyncio.create_task(self._timer_loop(), name="host-timer"),
        ]
        async with asyncio.timeout(10):
            await self.connected.wait()

    async def stop(self) -> None:
        if self._inflight:  # let what the engine already decided reach the broker
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(2):
                    await asyncio.gather(*self._inflight, return_exceptions=True)
        await cancel_and_wait(self._tasks)
        self._tasks = []
        if self._eventlog is not None:
            self._eventlog.flush()
            self._eventlog.close()
            self._eventlog = None

    def _open_log(self) -> None:
        assert self._log_path is not None
        self._eventlog = EventLog(self._log_path, studio=self.studio, show=self.show.title)
        known = logged_show(self._eventlog)
        if known is None:
            kind, data = to_record(self.show)
            self._eventlog.append(SHOW_RECORD, {"type": kind, "show": data}, now_us())
            return
        if known != self.show:
            log.warning("%s was started with another show: resuming with the logged one", self._log_path)
        # Resume: every input the previous run accepted, into a fresh engine.
        rebuilt = rebuild(self._eventlog, known, self._seed)
        self.show, self.engine = rebuilt.show, rebuilt.engine
        log.warning(
            "resumed from %s: %d inputs replayed, phase %s",
            self._log_path,
            rebuilt.inputs,
            self.engine.view()["phase"],
        )

    # ---------------------------------------------------------------- MQTT
    async def _connection_loop(self) -> None:
        delay = self.RECONNECT_MIN_S
        host_presence = topics.host(self.studio, "presence")
        will = aiomqtt.Will(
            host_presence,
            codec.encode({"t": "presence", "id": "host", "state": "offline"}),
            qos=1,
            retain=True,
        )
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker_host,
                    self.broker_port,
                    identifier=f"buzzline-host-{self.studio}",
                    username=self.username,
                    password=self.password,
                    will=will,
                    keepalive=5,
                    max_inflight_messages=1000,
                    max_queued_outgoing_messages=10000,
                    socket_options=NODELAY,
                ) as client:
                    self._client = client
                    for leaf in topics.UPSTREAM:
                        await client.subscribe(topics.podium_filter(self.studio, leaf), qos=1)
                    await client.publish(
                        host_presence,
                        codec.encode({"t": "presence", "id": "host", "state": "online"}),
                        qos=1,
                        retain=True,
                    )
                    delay = self.RECONNECT_MIN_S
                    await self._resync()
                    self.connected.set()
                    log.info(
                        "host connected to %s:%d studio %s", self.broker_host, self.broker_port, self.studio
                    )
                    async for m in client.messages:
                        arrival = now_us()
                        payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
                        await self.handle_message(m.topic.value, bytes(payload), arrival)
            except aiomqtt.MqttError as e:
                self.connected.clear()
                self._client = None
                log.warning("broker connection lost (%s); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay * self._rng.uniform(0.5, 1.5))
                delay = min(delay * 2, self.RECONNECT_MAX_S)

    async def _publish(self, topic: str, msg: dict[str, Any], qos: int = 1, retain: bool = False) -> None:
        client = self._client
        if client is None:
            log.warning("not connected: dropping publish to %s", topic)
            return
        try:
            await client.publish(topic, codec.encode(msg), qos=qos, retain=retain)
        except aiomqtt.MqttError as e:
            log.warning("publish to %s failed: %s", topic, e)

    def _next_cs(self) -> int:
        self._cs += 1
        return self._cs

    # ---------------------------------------------------------------- ingest
    async def handle_message(self, topic: str, payload: bytes, arrival_us: int) -> None:
        try:
            acc = self.ingest.accept(topic, payload, arrival_us)
        except Rejected as r:
            await self._on_reject(r)
            return
        info = self.registry.heard(acc.podium, arrival_us)
        if acc.gap:
            info.seq_gaps += acc.gap
            log.warning("%s: %d upstream messages missing before seq %s", acc.podium, acc.gap, acc.msg["seq"])
        if acc.leaf == "sync":
            await self._on_sync(acc, arrival_us)
        elif acc.leaf == "presence":
            await self._on_presence(acc, arrival_us)
        else:
            await self._on_up(acc, arrival_us)

    async def _on_reject(self, r: Rejected) -> None:
        level = logging.DEBUG if r.reason in QUIET else logging.WARNING
        log.log(level, "rejected %s on %s: %s", r.reason, r.topic, r.detail)
        if r.reason in QUIET:
            return
        msg: dict[str, Any] = {
            "t": "reject",
            "reason": r.reason[:16],
            "topic": _printable(r.topic, 160),
            "n": self.ingest.rejects[r.reason],
            "detail": _printable(r.detail, 160),
        }
        if r.podium and codec.valid_id(r.podium):
            msg["id"] = r.podium
        await self._publish(topics.host(self.studio, "rejects"), msg, qos=0)

    async def _on_sync(self, acc: Accepted, arrival_us: int) -> None:
        m = acc.msg
        reply = {"t": "syncr", "id": acc.podium, "n": m["n"], "t1": m["t1"], "t2": arrival_us, "t3": now_us()}
        await self._publish(topics.podium(self.studio, acc.podium, "syncr"), reply, qos=0)
        prev = m.get("prev")
        if prev is not None:
            model = self.clocks.model(acc.podium, m["b"])
            model.add_sample(prev[1], prev[2], prev[3], prev[4])
            info = self.registry.get(acc.podium)
            info.clock_err_us = model.err_us
            info.clock_trusted = model.trusted

    async def _on_presence(self, acc: Accepted, arrival_us: int) -> None:
        online = acc.msg["state"] == "online"
        info = self.registry.get(acc.podium)
        if info.online == online:
            return
        info.online = online
        event: ev.PodiumOnline | ev.PodiumOffline
        event = ev.PodiumOnline(acc.podium, {}) if online else ev.PodiumOffline(acc.podium)
        await self.feed(event, arrival_us)

    async def _on_up(self, acc: Accepted, arrival_us: int) -> None:
        m = acc.msg
        kind = m["t"]
        pid = acc.podium
        info = self.registry.get(pid)
        info.boot = m["b"]
        if acc.new_boot and kind != "hello":
            info.online = True
        self.clocks.note_time(pid, m["b"], m["pt"])
        if kind == "hello":
            info.hw, info.board, info.fw = m["hw"], m["board"], m["fw"]
            info.online = True
            await self.feed(ev.PodiumHello(pid, m["hw"], m["board"], m["fw"]), arrival_us)
            self._send_config(pid)  # after the engine assigned it: the config names the player
            return
        if kind == "fault":
            info.faults += 1
            log.warning("%s reports button fault %s (n=%s)", pid, m["code"], m.get("n"))
            return
        model = self.clocks.model(pid, m["b"])
        mapping = model.map(m["pt"])
        if kind == "buzz":
            event: ev.PodiumPress | ev.PodiumWatermark = ev.PodiumPress(
                pid, m["seq"], m["pt"], mapping.host_us, mapping.err_us, mapping.trusted, arrival_us
            )
        else:  # hb or ack: the podium is past this time
            if kind == "hb":
                info.last_hb_us = arrival_us
                info.rssi = m.get("rssi")
                info.batt_mv = m.get("batt")
            lock_ack = kind == "ack" and m["cs"] == self._lock_cs
            event = ev.PodiumWatermark(pid, m["seq"], mapping.host_us, mapping.err_us, lock_ack)
        await self.feed(event, arrival_us)

    def _send_config(self, pid: str) -> None:
        """The podium's retained config: its player's name and colour (or its id until assigned)."""
        if not codec.valid_id(pid):
            return
        podiums = self.engine.view().get("info", {}).get("podiums", {})
        name = podiums.get(pid, {}).get("player") or pid
        player = self.show.player(name)
        colour = (player.colour if player and player.colour else None) or PALETTE[
            sum(ord(c) for c in name) % len(PALETTE)
        ]
        cfg = {"t": "config", "name": name[:32], "col": colour.lower(), "bri": 160, "deb": 8, "hb": 1000}
        if self._configured.get(pid) == cfg:
            return
        self._configured[pid] = cfg
        self._send(topics.podium(self.studio, pid, "config"), cfg, retain=True)

    # ---------------------------------------------------------------- core
    async def feed(self, event: ev.Event, now: int | None = None) -> list[Any]:
        """Log an input, hand it to the engine, log its decisions, then carry out its effects."""
        t = now if now is not None else now_us()
        async with self._lock:
            self._append_input(event, t)
            effects = self.engine.handle(event, t)
            await self._apply(effects, commit=isinstance(event, ev.PodiumPress | ev.Command))
        self._wake.set()
        return effects

    async def command(self, name: str, **args: Any) -> list[Any]:
        """The one operator interface: every control surface ends up here."""
        return await self.feed(ev.Command(name, dict(args)))

    def _append_input(self, event: ev.Event, t: int) -> None:
        if self._eventlog is None:
            return
        kind, data = to_record(event)
        # Written now, fsynced by _apply before any effect but a lock goes out (presses and
        # commands always; watermarks and presence with the next durable record, at the latest
        # the decision they complete, so a lock's acknowledgements cost one fsync, not one each).
        self._eventlog.append("input", {"type": kind, "event": data, "now_us": t}, t, durable=False)

    async def _apply(self, effects: list[Any], commit: bool = False) -> None:
        """Carry out the engine's effects. Order: locks, then decisions into the log and the fsync
        (always when ``commit``: the input was a press or a command), then everything else."""
        # Lock first: a lock decides nothing and is re-derived from the log after a crash, so it
        # need not wait for the disk; every podium going dark at once is what makes it fair.
        for e in effects:
            if isinstance(e, ev.Lock):
                cs = self._next_cs()
                self._lock_cs = cs  # its acknowledgements are complete watermarks
                self._send(
                    topics.podium(self.studio, topics.ALL, "cmd"), {"t": "lock", "ep": e.epoch, "cs": cs}
                )
        # Then decisions: nothing else goes out that the log could not explain after a crash.
        # One fsync covers the input, the watermarks before it and the decisions it made.
        for e in effects:
            if isinstance(e, ev.DecisionMade):
                self.decisions.append(e.decision)
                if self._eventlog is not None:
                    kind, data = to_record(e.decision)
                    self._eventlog.append(
                        "decision", {"type": kind, "decision": data}, e.decision.decided_us, durable=False
                    )
        if self._eventlog is not None and (commit or any(not isinstance(e, ev.Logged) for e in effects)):
            self._eventlog.flush()
        state_changed = False
        for e in effects:
            if self.on_effect:
                self.on_effect(e)
            if isinstance(e, ev.Arm):
                self._send(
                    topics.podium(self.studio, topics.ALL, "cmd"),
                    {"t": "arm", "ep": e.epoch, "cs": self._next_cs()},
                )
            elif isinstance(e, ev.Light):
                self._light(e)
            elif isinstance(e, ev.StateChanged):
                state_changed = True
            elif isinstance(e, ev.DecisionMade):
                self._announce(e.decision)
            elif isinstance(e, ev.CommandRefused):
                log.info("command %s refused: %s", e.name, e.reason)
            elif isinstance(e, ev.Logged) and e.kind in ("assigned", "unassigned"):
                self._send_config(str(e.data.get("podium", "")))
        if state_changed:
            self._publish_state()

    def _send(self, topic: str, msg: dict[str, Any], qos: int = 1, retain: bool = False) -> None:
        """Start a publish now without waiting for its acknowledgement. Publishes start in the
        order they are sent (tasks run first in, first out), so the broker sees them in order."""
        task = asyncio.create_task(self._publish(topic, msg, qos, retain))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    def _light(self, e: ev.Light) -> None:
        msg: dict[str, Any] = {"t": "light", "cs": self._next_cs(), "pat": e.pattern}
        if e.colour:
            msg["col"] = e.colour.lower()
        if e.dur_ms:
            msg["dur"] = e.dur_ms
        self._send(topics.podium(self.studio, e.podium, "cmd"), msg)

    def _publish_state(self) -> None:
        view = dict(self.engine.view())
        view["t"] = "state"
        view["ts"] = now_us()
        known = {f[0] for f in codec.KINDS["state"]}
        msg = {k: v for k, v in view.items() if k in known or k == "t"}
        if msg.get("winner") is None:
            msg.pop("winner", None)
        try:
            codec.encode(msg)
        except codec.ProtocolError as e:
            log.error("viewer state does not fit protocol v1: %s", e)
            return
        self._send(topics.game_state(self.studio), msg, retain=True)

    def _announce(self, d: Decision) -> None:
        for fut in self._decision_waiters:
            if not fut.done():
                fut.set_result(d)
        self._decision_waiters.clear()

    async def wait_decision(self, timeout: float = 5.0) -> Decision:
        fut: asyncio.Future[Decision] = asyncio.get_running_loop().create_future()
        self._decision_waiters.append(fut)
        async with asyncio.timeout(timeout):
            return await fut

    async def _resync(self) -> None:
        """After (re)connecting: re-assert viewer state and every podium's light."""
        async with self._lock:
            effects = list(self.engine.resync())
            await self._apply([*effects, ev.StateChanged()])

    async def _timer_loop(self) -> None:
        while True:
            deadline = self.engine.next_deadline()
            self._wake.clear()
            if deadline is None:
                await self._wake.wait()
                continue
            wait_s = (deadline - now_us()) / 1e6
            if wait_s > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_s):
                        await self._wake.wait()
                continue
            async with self._lock:
                t = now_us()
                effects = self.engine.tick(t)
                if effects and self._eventlog is not None:
                    self._eventlog.append("tick", {"now_us": t}, t)
                await self._apply(effects)
