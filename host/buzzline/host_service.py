"""The host service: the asyncio shell around the pure gate (``gate.bridge``) and its engine.

One supervising ``asyncio.TaskGroup`` runs named tasks: ``host-mqtt`` (the broker connection:
read, ingest, answer syncs), ``host-timer`` (the engine's deadlines), ``host-events`` (notices
onto ``game/events``), each adapter's supervisor, and the parts attached with ``supervise`` (the
web server, its collector, the terminal printer), which are restarted when they die. A task
that fails is logged with its traceback and brings the whole service down with ``failed`` set:
the CLI exits nonzero; the service never runs half-alive. The broker connection itself is
expected to drop and is retried at once, then every 0.25 s for 10 s, then every second
(``lifecycle.Reconnect``); while it is down ``connected`` is clear.

The shell receives, sends, logs and supervises; it decides nothing. Each inbound message goes to
the gate once (``Bridge.receive``; under the engine's lock unless it is a clock sync that cannot
reach the engine), which returns what to send at once and one batch per engine input.
Order of one batch (an input and the decisions it made):
1. the batch's locks are written to the broker's socket (``_send(now=True)``);
2. the input and the decisions are appended to the event log and fsynced off the loop's thread;
3. the rest of the batch goes out (arm, lights, config, state), then one notice on the bus.
A lock decides nothing and is re-derived from the log after a crash, so it need not wait for the
disk; nothing else leaves the host before the log holds what explains it. The engine's lock is
held from the gate's call to the last batch's notice: batches go out in the order the engine
made them, and the log holds inputs in the order the engine took them.

Over 400 lines: the tasks, the publish path and the batch order above are kept in one file
because their ordering guarantees only hold together; the translation work is in
``buzzline.gate.bridge``, reading the client in ``io.inbox``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import hashlib
import logging
import random
import secrets
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.adapters.runner import AdapterManager
from buzzline.core import events as ev
from buzzline.core.clock import ClockBook
from buzzline.core.commandargs import BadArgs, check_args
from buzzline.core.contract import GameView, ScoreChange
from buzzline.core.game import GameEngine
from buzzline.core.podiums import PodiumTable
from buzzline.core.show import Show
from buzzline.core.types import Decision
from buzzline.gate.bridge import Batch, Bridge, Inbound, Wire, event_messages, host_presence
from buzzline.gate.ingest import QUIET, Ingest
from buzzline.hosttime import now_us
from buzzline.io.broker import NODELAY
from buzzline.io.clockstore import ClockStore
from buzzline.io.eventlog import EventLog, to_record
from buzzline.io.inbox import Inbox
from buzzline.io.mqttclient import DirectWriteClient, MessageInfo
from buzzline.io.recordkinds import DECISION, INPUT, SHOW, TICK
from buzzline.lifecycle import Part, Reconnect, RestartPolicy, Service, cancel_and_wait, keep
from buzzline.lock_trace import LockTrace
from buzzline.notices import CommandResult, Notice, NoticeBus
from buzzline.ota.fleet import Fleet
from buzzline.preflight import PreflightList
from buzzline.replay import logged_show, rebuild

log = logging.getLogger("buzzline.host")


class HostFailed(RuntimeError):
    """A part of the host died: the service stopped instead of running half-alive."""


class HostService(Service):
    """Run with ``async with HostService(...) as host:``; operator commands via ``await host.command()``."""

    KEEPALIVE_S = 1  # a dead broker is noticed within about two keepalives
    CONNECT_TIMEOUT_S = 10.0
    EVENTS_QUEUE = 4096
    # Both measured with `bench e2e` (docs/performance.md); the alternatives stay for measuring.
    LOCK_BEFORE_FSYNC = True  # a lock decides nothing and is re-derived from the log
    FSYNC_IN_THREAD = True  # other tasks (timers, notices, adapters) run while the disk syncs
    LOCK_AHEAD_OF_ACKS = True  # the lock's bytes before queued PUBACKs
    CATCH_UP_S = 5.0  # an operator command waits at most this for the messages that came before it
    # a part (web server, terminal printer...) that dies is restarted; five deaths a minute is a
    # bug that restarting will not fix, and the host stops with its reason
    PARTS = RestartPolicy()

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
        connect_timeout: float | None = None,
    ) -> None:
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.studio = studio
        self.show = show if show is not None else Show.default([])
        self.username = username
        self.password = password
        self._seed = seed
        self._connect_timeout = connect_timeout or self.CONNECT_TIMEOUT_S
        # firmware updates: releases are served only when the host is given a store (set_releases)
        self.fleet = Fleet(studio, None, None, lambda: self.bridge.next_cs())
        # the gate and its engine; a host that resumes a log builds them again from it (_open_log)
        self.bridge = self._gate(GameEngine(self.show, seed=seed), (time.time_ns() // 1000) % (1 << 40))
        self.decisions: list[Decision] = []
        self.connected = asyncio.Event()
        self.notices = NoticeBus()
        self.adapters = AdapterManager(self.notices, self.view, self._adapter_command, spawn=self._spawn)
        self.preflight = PreflightList()  # the start-up check's findings, until acknowledged
        self.score_history: list[ScoreChange] = []  # score changes before a resume, from the log
        self.failed: BaseException | None = None
        self.reconnects = 0
        self.superseded = 0  # publishes not sent because the broker was down (resynced instead)
        self.unsendable = 0  # messages the codec refused to encode (logged)
        self.locks_sent = 0  # and the latest latencies, input to lock handed to the connection (/metrics)
        self.lock_latencies_us: collections.deque[int] = collections.deque(maxlen=1024)
        self._log_path = Path(log_path) if log_path else None
        # a host with a log keeps its clock models beside it: a restart trusts them at once
        self._clockstore = ClockStore(self._log_path) if self._log_path is not None else None
        self._eventlog: EventLog | None = None
        self._flushing: asyncio.Future[None] | None = None  # the commit running in a worker thread
        self._client: DirectWriteClient | None = None
        self._main: asyncio.Task[None] | None = None
        self._children: list[asyncio.Task[None]] = []
        self._tg: asyncio.TaskGroup | None = None  # the supervising group, while it runs
        self.parts: dict[str, Part] = {}  # the supervised parts others attach (supervise)
        self._wake = asyncio.Event()
        self._last_info: MessageInfo | None = None  # the last QoS 1 publish
        self._lock = asyncio.Lock()
        # the connection's reader: its inbox, the arrival stamp of the message it is handling,
        # and a signal after each one (an operator command waits for what arrived before it)
        self._inbox: Inbox | None = None
        self._handling_us: int | None = None
        self._reader: asyncio.Task[Any] | None = None
        self._progress = asyncio.Event()
        self._decision_waiters: list[asyncio.Future[Decision]] = []
        self._rng = random.Random(seed)
        self._stopping = False
        self._stopped = asyncio.Event()
        self.trace: LockTrace | None = None  # lock-path stamps, set by benchmarks only
        # persistent session only for a host with a log (it can resume); unique per log file
        if self._log_path is not None:
            digest = hashlib.sha1(str(self._log_path.resolve()).encode()).hexdigest()[:10]
            self.client_id = f"buzzline-host-{studio}-{digest}"
        else:
            self.client_id = f"buzzline-host-{studio}-{secrets.token_hex(4)}"

    def _gate(self, engine: GameEngine, cs: int) -> Bridge:
        return Bridge(self.studio, engine, cs, firmware=self.fleet.inbound)

    # the gate's parts, by their old names
    @property
    def engine(self) -> GameEngine:
        return self.bridge.engine

    @property
    def clocks(self) -> ClockBook:
        return self.bridge.clocks

    @property
    def registry(self) -> PodiumTable:
        return self.bridge.registry

    @property
    def ingest(self) -> Ingest:
        return self.bridge.ingest

    def view(self) -> GameView:
        return self.engine.view()

    # ---------------------------------------------------------------- lifecycle
    async def start(self) -> None:
        if self._log_path is not None and self._open_log():
            # logged like any input, so a replay of the log meets it where this host did
            async with self._lock:
                await self._carry(self.bridge.feed(ev.HostResumed(), now_us()))
        self._main = asyncio.create_task(self._run(), name="host")
        waiter = asyncio.create_task(self.connected.wait())
        try:
            done, _ = await asyncio.wait(
                {waiter, self._main}, timeout=self._connect_timeout, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if self._main in done or not self.connected.is_set():
            await self.stop()
            if self.failed is not None:
                raise HostFailed(str(self.failed)) from self.failed
            where = f"{self.broker_host}:{self.broker_port}"
            raise TimeoutError(f"no broker answered at {where} within {self._connect_timeout:g} s")
        for spec in self.show.adapters:
            try:
                await self.adapters.add(spec.name, spec.kind, spec.settings)
            except Exception as e:  # an unknown kind must not stop the show
                log.error("adapter %s (%s) not started: %s", spec.name, spec.kind, e)

    async def stop(self) -> None:
        if self._stopping:
            return
        self._stopping = True
        for part in self.parts.values():  # what ends now is the host stopping, not a death
            part.closing = True
        await self.adapters.close()
        await self._drain(2)  # let what the engine already decided reach the broker
        await self._say_offline()
        if self._main is not None:
            # the group's tasks too: one of them may swallow a cancel (see cancel_and_wait), and
            # a group whose cancel was swallowed does not pass a second one on
            await cancel_and_wait([*self._children, self._main])
        self.notices.close()
        self.connected.clear()
        if self._flushing is not None:
            await asyncio.wait({self._flushing})
        if self._eventlog is not None:
            self._eventlog.flush()
            self._eventlog.close()
            self._eventlog = None
        self._stopped.set()

    async def _say_offline(self) -> None:
        """A clean disconnect sends no last will: say it, so viewers can show the host has gone."""
        client = self._client
        if client is None:
            return
        offline = codec.encode(host_presence(False))
        with contextlib.suppress(aiomqtt.MqttError, TimeoutError):
            async with asyncio.timeout(1):
                await client.publish(topics.host(self.studio, "presence"), offline, qos=1, retain=True)

    @property
    def client(self) -> DirectWriteClient | None:
        """The broker connection while it is up (benchmarks tap its sends)."""
        return self._client

    async def wait_stopped(self) -> None:
        """Until the service stops, by ``stop()`` or because a part of it failed (see ``failed``)."""
        await self._stopped.wait()

    # ---------------------------------------------------------------- supervision
    def supervise(self, name: str, run: Callable[[], Awaitable[None]], restart: bool = True) -> Part:
        """Run a long-lived part of the host (the web server, the terminal printer) in the
        service's TaskGroup: when it dies it is logged and restarted (``PARTS``); when it may not
        come back (``restart=False``, or too many deaths) the service stops with the reason in
        ``failed``. ``end(part)`` ends it for good."""
        part = Part(name, restart)
        part.task = self._spawn(keep(part, run, self.PARTS), name)
        self.parts[name] = part
        return part

    async def end(self, part: Part) -> None:
        """End a supervised part (its owner is closing it): no restart, no failure."""
        part.closing = True
        if part.task is not None:
            await cancel_and_wait([part.task])
        if self.parts.get(part.name) is part:
            del self.parts[part.name]

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """A task in the service's TaskGroup: if it fails, the service stops with its reason."""
        if self._tg is None or self._stopping:
            coro.close()
            raise RuntimeError(f"{name}: the host service is not running")
        return self._tg.create_task(coro, name=name)

    async def _run(self) -> None:
        try:
            async with asyncio.TaskGroup() as tg:
                self._tg = tg
                self._children = [
                    tg.create_task(self._connection_loop(), name="host-mqtt"),
                    tg.create_task(self._timer_loop(), name="host-timer"),
                    tg.create_task(self._events_loop(), name="host-events"),
                ]
                if self._clockstore is not None:
                    self._children.append(
                        tg.create_task(self._clockstore.run(self.bridge.clocks), name="host-clocks")
                    )
                self._children.append(tg.create_task(self._settle_gc(), name="host-gc"))
        except asyncio.CancelledError:
            raise
        except BaseException as e:  # the group's failures: logged and surfaced
            errors = e.exceptions if isinstance(e, BaseExceptionGroup) else (e,)
            for err in errors:
                log.critical("host task failed: %s", err, exc_info=err)
            self.failed = errors[0]
            self.connected.clear()
            if not self._stopping:
                asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self.stop()))
        finally:
            self._tg = None

    GC_SETTLE_S = 3.0

    async def _settle_gc(self) -> None:
        """Once the host has started (modules imported, adapters up), collect once and freeze
        what is left: Python's full collection walks every long-lived object, and the ~40,000
        of a started host (most of them code and module data that never change) made each one
        a 25-50 ms stop of the event loop, podium path included. Frozen, they are not walked;
        what the show builds later still is (docs/performance.md)."""
        await asyncio.sleep(self.GC_SETTLE_S)
        gc.collect()
        gc.freeze()

    def _open_log(self) -> bool:
        """Open the event log; True when it resumes a show (the engine rebuilt from it)."""
        assert self._log_path is not None and self._clockstore is not None
        self._eventlog = EventLog(self._log_path, studio=self.studio, show=self.show.title)
        known = logged_show(self._eventlog)
        if known is None:
            self._clockstore.restore(self.bridge.clocks)
            kind, data = to_record(self.show)
            self._eventlog.append(SHOW, {"type": kind, "show": data}, now_us())
            return False
        if known != self.show:
            log.warning("%s was started with another show: resuming with the logged one", self._log_path)
        rebuilt = rebuild(self._eventlog, known, self._seed)
        # the gate built on the resumed engine: its podium table holds each podium's last hello
        # (a podium says hello once per boot, not per host), its clock book the stored models
        self.show = rebuilt.show
        self.bridge = self._gate(rebuilt.engine, self.bridge.cs)
        self._clockstore.restore(self.bridge.clocks)
        self.score_history = rebuilt.scores
        log.warning(
            "resumed from %s: %d inputs replayed, phase %s",
            self._log_path,
            rebuilt.inputs,
            self.engine.g.phase,
        )
        return True

    # ---------------------------------------------------------------- MQTT
    async def _connection_loop(self) -> None:
        presence_topic = topics.host(self.studio, "presence")
        will = aiomqtt.Will(
            presence_topic,
            codec.encode(host_presence(False)),
            qos=1,
            retain=True,
        )
        retry = Reconnect(self._rng)
        while True:
            try:
                async with DirectWriteClient(
                    self.broker_host,
                    self.broker_port,
                    identifier=self.client_id,
                    clean_session=self._log_path is None,
                    username=self.username,
                    password=self.password,
                    will=will,
                    keepalive=self.KEEPALIVE_S,
                    timeout=5,
                    max_inflight_messages=1000,
                    max_queued_outgoing_messages=10000,
                    socket_options=NODELAY,
                ) as client:
                    inbox = Inbox(client)
                    for leaf in topics.UPSTREAM:
                        await client.subscribe(topics.podium_filter(self.studio, leaf), qos=1)
                    await client.publish(
                        presence_topic,
                        codec.encode(host_presence(True)),
                        qos=1,
                        retain=True,
                    )
                    self._client = client
                    if retry.tries or self.connected.is_set() or self.reconnects:
                        self.reconnects += 1
                    retry.connected()
                    await self._resync()
                    self.connected.set()
                    log.info(
                        "host connected to %s:%d studio %s", self.broker_host, self.broker_port, self.studio
                    )
                    self._inbox, self._reader = inbox, asyncio.current_task()
                    while True:
                        m = await inbox.get()
                        self._handling_us = m.read_us
                        try:
                            await self.handle_message(m.topic, m.payload, m.read_us)
                        finally:
                            self._handling_us = None
                            self._progress.set()
            except aiomqtt.MqttError as e:
                self.connected.clear()
                self._client = None
                delay = retry.delay()
                log.log(
                    logging.WARNING if retry.tries == 1 else logging.DEBUG,
                    "broker %s:%d: %s; retrying every %.2f s or less for %.0f s, then every %.0f s",
                    self.broker_host,
                    self.broker_port,
                    e,
                    Reconnect.STEPS_S[-1],
                    Reconnect.FAST_FOR_S,
                    Reconnect.SLOW_S,
                )
                await asyncio.sleep(delay)

    def _send(self, w: Wire, now: bool = False) -> None:
        """Hand a publish to the MQTT client at once, without waiting for its acknowledgement.

        Publishes go straight into the client's outgoing queue (paho's, under aiomqtt), in the
        order they are sent, so the broker sees them in order; the loop writes them out when the
        socket is writable. ``now`` (the lock; a sync reply, whose ``t3`` must be the instant it
        leaves) writes the queue to the socket before returning: measured with `bench e2e`, a
        publish task and aiomqtt's writer callback cost 0.3 ms.
        """
        client = self._client
        if client is None:
            # the reconnect's resync re-derives lights, arming, the lock and the state
            self.superseded += 1
            log.debug("broker down: %s superseded by the resync on reconnect", w.topic)
            return
        try:
            data = codec.encode(w.msg)
        except codec.ProtocolError as e:  # a bug, but not one to take the host down with it
            self.unsendable += 1
            level = logging.ERROR if self.unsendable in (1, 10, 100, 1000) else logging.DEBUG
            log.log(level, "not published on %s: %s (%d so far)", w.topic, e, self.unsendable)
            return
        try:
            info = client.send(w.topic, data, w.qos, w.retain, now=now, ahead_of_acks=self.LOCK_AHEAD_OF_ACKS)
        except aiomqtt.MqttCodeError as e:
            self.superseded += 1
            log.info("publish to %s failed (%s): resynced on reconnect", w.topic, e)
            return
        if w.qos:
            self._last_info = info

    def _send_sync_reply(self, w: Wire) -> None:
        """A sync reply's ``t3`` is the instant it leaves: stamped again just before it is written
        straight to the socket (QoS 0), else at once the usual way."""
        client = self._client
        w.msg["t3"] = now_us()
        if client is not None:
            with contextlib.suppress(codec.ProtocolError):  # _send counts what cannot be encoded
                if client.send_qos0(w.topic, codec.encode(w.msg)):
                    return
        self._send(w, now=True)

    async def _drain(self, timeout: float) -> None:
        """Until the broker has acknowledged everything published (or ``timeout``)."""
        info = self._last_info
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                while info is not None and not info.is_published() and self._client is not None:
                    await asyncio.sleep(0.01)

    # ---------------------------------------------------------------- the gate
    async def handle_message(self, topic: str, payload: bytes, arrival_us: int) -> None:
        """One inbound message: through the gate once, then what it asks carried out."""
        trace = self.trace
        if trace is not None:
            trace.begin(arrival_us)
        probe = trace.mark if trace else None
        if not self.bridge.needs_engine(topic):  # a clock sync: answered at once, no batch to wait for
            self._send_at_once(self.bridge.receive(topic, payload, arrival_us, now_us(), probe))
            return
        async with self._lock:
            step = self.bridge.receive(topic, payload, arrival_us, now_us(), probe)
            self._send_at_once(step)
            for batch in step.batches:
                await self._carry(batch)
            for w in step.configs():
                self._send(w)
        if step.batches:
            self._wake.set()

    def _send_at_once(self, step: Inbound) -> None:
        """What a message asks to send before any batch: sync replies, a reject's report, an
        askhello, the fleet's commands."""
        if (r := step.rejected) is not None:
            level = logging.DEBUG if r.reason in QUIET else logging.WARNING
            log.log(level, "rejected %s on %s: %s", r.reason, r.topic, r.detail)
        for w in step.wire:
            if w.msg["t"] == "syncr":
                self._send_sync_reply(w)
            else:
                self._send(w)

    async def feed(self, event: ev.Event, now: int | None = None) -> list[Any]:
        """Hand an input to the engine through the gate (benchmarks and tests feed podium inputs
        directly); its locks, log and rest carried out. Returns the engine's effects."""
        async with self._lock:
            batch = self.bridge.feed(event, now if now is not None else now_us())
            await self._carry(batch)
        self._wake.set()
        return batch.effects

    async def _after_arrived(self, t_us: int) -> None:
        """Wait until every message read off the broker's socket at or before ``t_us`` has been
        handled. The reader handles one message at a time, and each may wait for the event log's
        fsync; on a slow disk (a second or more a commit) the messages that came meanwhile wait
        in the inbox while an operator's command, sent later, could take the lock first: a
        judge would then settle a question before a press that reached the host earlier, whose
        podium pressed first. At most ``CATCH_UP_S`` (a reader that cannot go on must not
        block the operator); never from the reader's own task (it would wait for itself)."""
        inbox, reader = self._inbox, self._reader
        if inbox is None or reader is None or reader.done() or asyncio.current_task() is reader:
            return
        deadline = time.monotonic() + self.CATCH_UP_S

        def pending() -> bool:
            busy = self._handling_us is not None and self._handling_us <= t_us
            head = inbox.oldest_read_us()
            return busy or (head is not None and head <= t_us)

        while pending() and inbox is self._inbox and not reader.done():
            self._progress.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                log.warning(
                    "an operator command waited %.1f s for the podium messages that came before it;"
                    " it goes ahead of %d still waiting",
                    self.CATCH_UP_S,
                    len(inbox),
                )
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), left)

    def firmware(self, action: str, podiums: list[str], release: str | None = None) -> list[dict[str, Any]]:
        """Push (``release``: a version or digest, default the newest) or roll back the podiums'
        firmware (all that said hello when ``podiums`` is empty); raises FleetError with a reason."""
        phase = self.engine.g.phase
        wires = (
            self.fleet.push(podiums, release, phase)
            if action == "push"
            else self.fleet.rollback(podiums, phase)
        )
        for w in wires:
            self._send(w)
        return self.fleet.status()

    async def command(self, name: str, /, **args: Any) -> list[Any]:
        """The one operator interface: every control surface ends up here. A command takes
        effect after every podium message that reached the host before it (``_after_arrived``)."""
        await self._after_arrived(now_us())
        async with self._lock:
            batch = self.bridge.command(name, args, now_us())
            await self._carry(batch)
        self._wake.set()
        return batch.effects

    async def _adapter_command(self, name: str, /, **args: Any) -> CommandResult:
        try:  # the operator API's checks: an adapter is another control surface
            checked = check_args(name, args)
        except BadArgs as e:
            return CommandResult(False, e.reason)
        effects = await self.command(name, **checked)
        refused = [e for e in effects if isinstance(e, ev.CommandRefused)]
        return CommandResult(False, refused[0].reason) if refused else CommandResult(True)

    def _log(self, batch: Batch) -> None:
        """A batch's input (or tick) and decisions into the log, not yet fsynced (``_carry`` does,
        presses and commands always; watermarks and presence with the next durable record, at the
        latest the decision they complete)."""
        log_ = self._eventlog
        t = batch.at_us
        if log_ is not None and batch.input is not None:
            kind, data = to_record(batch.input)
            log_.append(INPUT, {"type": kind, "event": data, "now_us": t}, t, durable=False)
        elif log_ is not None and batch.tick and batch.effects:
            log_.append(TICK, {"now_us": t}, t)
        for e in batch.decisions():
            self.decisions.append(e.decision)  # an overturn is logged as a second decision
            if log_ is not None:
                kind, data = to_record(e.decision)
                log_.append(DECISION, {"type": kind, "decision": data}, e.decision.decided_us, durable=False)

    async def _carry(self, batch: Batch) -> None:
        """Carry out one batch: locks, the input and decisions logged and fsynced, then the rest."""
        t = batch.at_us
        trace = self.trace if batch.locks else None
        if self.LOCK_BEFORE_FSYNC:
            self._send_locks(batch.locks, t)
        t0 = now_us()
        self._log(batch)
        t1 = now_us()
        if self._eventlog is not None and batch.commit:
            if self.FSYNC_IN_THREAD:
                # shielded and tracked: a cancelled batch must not leave a commit running in the
                # worker thread while stop() closes the database under it
                self._flushing = asyncio.ensure_future(asyncio.to_thread(self._eventlog.flush))
                await asyncio.shield(self._flushing)
            else:
                self._eventlog.flush()
        t2 = now_us()
        if not self.LOCK_BEFORE_FSYNC:
            self._send_locks(batch.locks, t)
        if trace is not None:
            trace.note(log=t1 - t0, fsync=t2 - t1, fsync_at=t1)
        rest = batch.rest(now_us())
        for w in rest.wire:
            self._send(w)
        for e in batch.decisions():
            self._announce(e.decision)
        if rest.events and rest.view is not None:
            self.notices.publish(Notice(self.notices.seq + 1, t, tuple(rest.events), rest.view))

    def _send_locks(self, locks: list[Wire], t: int) -> None:
        for w in locks:
            if self.trace is not None:
                self.trace.lock(codec.encode(w.msg))
            self._send(w, now=True)
            self.locks_sent += 1
            self.lock_latencies_us.append(now_us() - t)

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
        """After (re)connecting: the lock in force again (podiums acknowledge it again, with what
        they pressed), every podium's light and arming, and the viewer state."""
        async with self._lock:
            await self._carry(self.bridge.resync(now_us()))

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
                await self._carry(self.bridge.tick(now_us()))

    async def _events_loop(self) -> None:
        """Every notice onto ``game/events``, one message per event (SPEC §3.9)."""
        sub = self.notices.subscribe("wire:game/events", self.EVENTS_QUEUE, replay_latest=False)
        async for notice in sub:
            for w in event_messages(self.studio, notice.seq, notice.host_us, notice.events):
                self._send(w)
