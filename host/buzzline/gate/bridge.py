"""The gate, pure: one inbound message in -> the wire messages and events it makes; the engine's
effects out -> wire messages and notice events.

No I/O and no clock: times are passed in. The shell (``host_service``) reads the broker and hands
each message to ``receive`` once; the gate runs ingest, the podium table, the clock book and the
mapping, feeds the resulting inputs to the game engine and returns a ``Step``: what to send at
once (sync replies, rejects, askhello), then one ``Batch`` per engine input, which the shell
carries out in order (its locks at once, its input and decisions logged and fsynced, then
``Batch.rest``: arm, light, config and state messages and the notice events, SPEC §3.9). A batch's
rest is worked out from the state the batch left, after its lock has gone: the lock's bytes never
wait for the view. Operator commands (``command``), timer ticks (``tick``) and the resync after a
(re)connect (``resync``) come out as a ``Batch`` the same way. Testable without a broker
(tests/test_bridge_unmapped.py, tests/test_show.py).

Inbound, per leaf:
- ``sync``: a ``syncr`` reply now, and the previous exchange's four timestamps into the podium's
  clock model.
- ``presence``: ``PodiumOnline``/``PodiumOffline`` when it changes what the host knew (only the
  live boot's: ingest drops the others). Any ``up`` message also means online.
- ``up``: ``hello`` → ``PodiumHello`` (then the podium's retained config); ``buzz`` →
  ``PodiumPress`` mapped to host time with its bound; ``hb``/``ack`` → ``PodiumWatermark``.
  Capture (button edge → the podium's timestamp) is part of every bound: a press is centred on
  its capture interval and its bound widened (``clock.with_capture``), a watermark moves back by
  the whole capture bound; the bound is ``clock.capture_bound_us(hello.board, hello.cap)``.
- An ``up`` or ``sync`` message from a podium boot it has no hello for (the host started after
  the podium, or the hello was lost): an ``askhello`` on the podium's cmd topic, at most once a
  second (SPEC §12).

The podium table (``core.podiums``) is the engine's: the gate writes the link's fields of it, the
engine what its inputs say (presence, hello), so a gate built on a resumed engine knows what the
log knew.

Over 400 lines: both directions of the translation live together because they share the
table, the clocks and the command sequence; each half is a list of small pure functions.
"""

from __future__ import annotations

import logging
from collections import abc
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

from buzzline_protocol import codec, topics

from buzzline.core import events as ev
from buzzline.core.clock import (
    CAPTURE_UNKNOWN_US,
    UNKNOWN_ERR_US,
    ClockBook,
    capture_bound_us,
    declared_cap,
    with_capture,
)
from buzzline.core.contract import (
    GameView,
    NoticeEvent,
    OverturnedEvent,
    Ranked,
    Who,
    WinnerEvent,
    podium_view,
)
from buzzline.core.game import GameEngine
from buzzline.core.types import Decision, Mapping
from buzzline.gate.ingest import QUIET, Accepted, Ingest, Rejected

log = logging.getLogger("buzzline.host")


Probe = Callable[[str], None]  # a benchmark's stamp between the gate's stages


class Wire(NamedTuple):
    topic: str
    msg: dict[str, Any]
    qos: int = 1
    retain: bool = False


# (podium, leaf, message, its clock is trusted) -> the fleet's commands (buzzline.ota.fleet)
Firmware = Callable[[str, str, dict[str, Any], bool], list[Wire]]


class Outbound(NamedTuple):
    """The rest of a batch, after its locks: wire messages in order, notice events, the view."""

    wire: list[Wire]
    events: list[NoticeEvent]
    view: GameView | None  # None: nothing changed that a notice would carry


@dataclass(eq=False)
class Batch:
    """One engine input (or a tick, a resync, a host command) as the shell carries it out: the
    ``locks`` at once, then ``input`` (or the tick) and the decisions logged, fsynced when
    ``commit``, then ``rest``."""

    effects: list[ev.Effect]
    locks: list[Wire]
    at_us: int  # the host time it was handled at (the log's, the notice's)
    input: ev.Event | None = None  # the input to log (None: a tick, a resync, a host command)
    tick: bool = False  # a timer tick: logged when it changed anything
    commit: bool = False  # the log is fsynced before the rest goes out
    _gate: Bridge | None = None
    _rest: Outbound | None = None

    def decisions(self) -> list[ev.DecisionMade | ev.DecisionOverturned]:
        return [e for e in self.effects if isinstance(e, ev.DecisionMade | ev.DecisionOverturned)]

    def rest(self, now_us: int) -> Outbound:
        """Everything but the locks, from the state this batch left (worked out once)."""
        if self._rest is None:
            self._rest = (
                Outbound([], [], None) if self._gate is None else self._gate.outbound(self.effects, now_us)
            )
        return self._rest


@dataclass
class Inbound:
    """What one inbound message asks of the shell (``Bridge.receive``)."""

    events: list[ev.Event] = field(default_factory=list)  # the engine inputs it made, in order
    wire: list[Wire] = field(default_factory=list)  # to publish at once (sync replies, a reject report)
    batches: list[Batch] = field(default_factory=list)  # one per input, to carry out in order
    after: list[str] = field(default_factory=list)  # podiums whose config to send after the batches
    rejected: Rejected | None = None  # refused by ingest: counted; ``wire`` holds its report
    accepted: Accepted | None = None  # what ingest accepted
    _gate: Bridge | None = None

    def configs(self) -> list[Wire]:
        """The retained configs of ``after`` that changed (once the batches are out)."""
        gate = self._gate
        if gate is None:
            return []
        return [w for pid in self.after if (w := gate.config(pid)) is not None]


def printable(text: str, limit: int) -> str:
    """Echo untrusted text into a reject safely: printable ASCII only, within the field limit."""
    safe = "".join(c if " " <= c <= "~" and c not in '"\\' else "?" for c in text)
    return safe[:limit]


class Bridge:
    """The gate of one studio's host, over its game engine (and the engine's podium table)."""

    # A press, heartbeat or ack from a podium whose clock model has no sample yet (a restarted
    # host gets what the broker kept for it before any sync) waits for one, so it is mapped with
    # a real bound instead of an unknown one that would tie it with every press. It waits at
    # least HOLD_UNMAPPED_US and until two of the podium's syncs have been handled since (a host
    # stalled by a slow disk handles nothing for a while: time alone says little), at most
    # HOLD_UNMAPPED_MAX_US (a podium that does not sync).
    # Replies say more = 1 while the podium's clock is not trusted and its model holds fewer
    # exchanges than this: a link whose evidence stays thin does not get 60 exchanges a second
    # for ever (its airtime is the show's too); the schedule's pace goes on from there. 256, about
    # five seconds of hurry: at 96 a podium rebooted on a radio that goes deaf now and then had
    # a bound hovering just over the trust line and took 19.5 s at the schedule's 16 a second
    # to reach the 256 exchanges that trusted it.
    MORE_EXCHANGES = 256
    HOLD_UNMAPPED_US = 1_500_000
    HOLD_UNMAPPED_MAX_US = 5_000_000
    ASK_HELLO_EVERY_US = 1_000_000  # a podium that does not answer an askhello is asked again

    def __init__(
        self, studio: str, engine: GameEngine, cs_start: int, firmware: Firmware | None = None
    ) -> None:
        self.studio = studio
        self.engine = engine
        # the fleet's firmware updates (buzzline.ota.fleet, pure): told of every hello, sync and
        # fwst with the podium's clock trust, it answers with update commands to send at once
        self.firmware = firmware
        pct = engine.show.rules.path_asymmetry_pct
        self.clocks = ClockBook(None if pct is None else pct / 100)
        self.registry = engine.podium_table  # the engine's: one table of podiums (core.podiums)
        self.ingest = Ingest(studio)
        self.cs = cs_start  # command sequence: unique across host restarts
        self.lock_cs = -1  # the current lock's cs: its acknowledgements are complete watermarks
        self._configured: dict[str, dict[str, Any]] = {}  # the config each podium was last sent
        self._last_view: GameView | None = None
        # per podium, up messages waiting for its first clock sample: (message, arrival, lock ack)
        self._unmapped: dict[str, list[tuple[Accepted, int, bool]]] = {}
        self._syncs_while_unmapped: dict[str, int] = {}

    def next_cs(self) -> int:
        self.cs += 1
        return self.cs

    # ---- inbound -----------------------------------------------------------------------------------
    def reject(self, r: Rejected, count: int) -> Wire | None:
        """The report of a rejected message (none for the quiet reasons: a plain duplicate...)."""
        if r.reason in QUIET:
            return None
        msg: dict[str, Any] = {
            "t": "reject",
            "reason": r.reason[:16],
            "topic": printable(r.topic, 160),
            "n": count,
            "detail": printable(r.detail, 160),
        }
        if r.podium and codec.valid_id(r.podium):
            msg["id"] = r.podium
        return Wire(topics.host(self.studio, "rejects"), msg, qos=0)

    def needs_engine(self, topic: str) -> bool:
        """Whether a message on ``topic`` may reach the engine. A clock sync does not while no
        podium's messages wait for a clock sample: the shell answers it at once, without waiting
        for the engine's lock (a batch being fsynced)."""
        return bool(self._unmapped) or not topic.endswith("/sync")

    def receive(
        self, topic: str, payload: bytes, arrival_us: int, now_us: int, probe: Probe | None = None
    ) -> Inbound:
        """The gate, once per inbound message: ingest (decode, validate, sender, dedup), then the
        podium table, the clock book, the mapping to host time and the engine. Returns what to
        send at once and one batch per engine input. ``probe`` (benchmarks only) is told when
        ingest, the mapping and the engine are done."""
        try:
            acc = self.ingest.accept(topic, payload, arrival_us)
        except Rejected as r:
            report = self.reject(r, self.ingest.reported)
            return Inbound(wire=[report] if report is not None else [], rejected=r)
        if probe is not None:
            probe("ingest")
        return self.inbound(acc, arrival_us, now_us, probe)

    def inbound(self, acc: Accepted, arrival_us: int, now_us: int, probe: Probe | None = None) -> Inbound:
        """An accepted message: the podium table, the clock book, the mapping, then the engine."""
        out = self._translate(acc, arrival_us, now_us)
        out.accepted = acc
        out._gate = self
        if self.firmware is not None and (acc.leaf in ("fwst", "sync") or acc.msg["t"] == "hello"):
            clock = self.clocks.get(acc.podium)  # a release on trial is confirmed once it is trusted
            out.wire += self.firmware(acc.podium, acc.leaf, acc.msg, clock is not None and clock.trusted)
        if probe is not None:
            probe("map")
        for event in out.events:
            if out.batches:  # the last batch's rest from the state it left, before the next input
                out.batches[-1].rest(now_us)
            out.batches.append(self.feed(event, arrival_us, probe))
        return out

    def _translate(self, acc: Accepted, arrival_us: int, now_us: int) -> Inbound:
        out = Inbound()
        info = self.registry.heard(acc.podium, arrival_us)
        if acc.gap:
            info.seq_gaps += acc.gap
            log.warning("%s: %d upstream messages missing before seq %s", acc.podium, acc.gap, acc.msg["seq"])
        if acc.leaf == "fwst":
            return out  # firmware update progress: the fleet's (buzzline.ota.fleet), not the game's
        if acc.leaf == "sync":
            self._sync(acc, arrival_us, now_us, out)
        elif acc.leaf == "presence":
            online = acc.msg["state"] == "online"
            if info.online != online:
                info.online = online
                out.events.append(ev.PodiumOnline(acc.podium, {}) if online else ev.PodiumOffline(acc.podium))
        else:
            self._up(acc, arrival_us, out)
        if acc.leaf != "presence":  # a podium's presence goes out before it knows of the host
            self._ask_hello(acc, now_us, out)
        if self._unmapped:
            self._release_unmapped(now_us, out)
        return out

    def _ask_hello(self, acc: Accepted, now_us: int, out: Inbound) -> None:
        """An ``askhello`` when a live boot speaks that has said no hello to this host (once a
        second while it stays silent): without it, its presses carry a default capture bound."""
        m = acc.msg
        boot = m.get("b")
        pid = acc.podium
        info = self.registry.get(pid)
        if boot is None or info.hello_boot == boot:
            return
        last = info.asked
        if last is not None and last[0] == boot and now_us - last[1] < self.ASK_HELLO_EVERY_US:
            return
        if last is None or last[0] != boot:
            cap_us, source = self.capture(pid)
            log.log(
                logging.INFO if source == "logged" else logging.WARNING,
                "%s: boot %d has said no hello: its presses get the %s capture bound (%d us) until "
                "it does; asked for one",
                pid,
                boot,
                "logged" if source == "logged" else "default",
                cap_us,
            )
        info.asked = (boot, now_us)
        msg = {"t": "askhello", "cs": self.next_cs()}
        out.wire.append(Wire(topics.podium(self.studio, pid, "cmd"), msg))

    def _sync(self, acc: Accepted, arrival_us: int, now_us: int, out: Inbound) -> None:
        if acc.podium in self._unmapped:
            self._syncs_while_unmapped[acc.podium] = self._syncs_while_unmapped.get(acc.podium, 0) + 1
        m = acc.msg
        reply = {"t": "syncr", "id": acc.podium, "n": m["n"], "t1": m["t1"], "t2": arrival_us, "t3": now_us}
        out.wire.append(Wire(topics.podium(self.studio, acc.podium, "syncr"), reply, qos=0))
        prev = m.get("prev")
        model = self.clocks.model(acc.podium, m["b"])
        if prev is not None:
            model.add_sample(prev[1], prev[2], prev[3], prev[4])
        if not model.trusted and model.samples < self.MORE_EXCHANGES:
            reply["more"] = 1  # SPEC §4.4: the next request may follow this reply at once
        if prev is not None or model.samples:
            # also without a new sample: a model restored at start (io.clockstore) is what this
            # podium's presses are mapped with from its first message on, and the registry says so
            info = self.registry.get(acc.podium)
            info.clock_err_us = model.err_us
            info.clock_trusted = model.trusted

    def _up(self, acc: Accepted, arrival_us: int, out: Inbound) -> None:
        m = acc.msg
        kind = m["t"]
        pid = acc.podium
        info = self.registry.get(pid)
        if info.boot != m["b"]:
            # a new boot has a new clock model: the last boot's trust says nothing of it
            info.clock_trusted, info.clock_err_us = False, None
        info.boot = m["b"]
        if not info.online:
            # The live boot speaks on up, so it is connected, whatever presence said: a new boot's
            # presence that overtook its hello was dropped as early (SPEC §4.2).
            info.online = True
            out.events.append(ev.PodiumOnline(pid, {}))
        if kind == "hello":
            # before the boot nonce reaches the clocks: a new board takes no prior from the old
            self.clocks.note_board(pid, m["hw"])
        self.clocks.note_time(pid, m["b"], m["pt"])
        if kind == "hello":
            # hw, board, fw and the bound are the engine's to write (from PodiumHello, also replayed)
            info.cap = m.get("cap")
            bound = capture_bound_us(m["board"], info.cap)
            first = info.hello_boot != m["b"]
            info.hello_boot, info.asked = m["b"], None
            if not declared_cap(info.cap) and (first or info.capture_us != bound):
                log.info(
                    "%s: capture bound %d us is the default for board %r: no selftest has declared one",
                    pid,
                    bound,
                    m["board"],
                )
            out.events.append(ev.PodiumHello(pid, m["hw"], m["board"], m["fw"], bound))
            out.after.append(pid)  # after the engine assigned it: the config names the player
            return
        if kind == "fault":
            info.faults += 1
            log.warning("%s reports button fault %s (n=%s)", pid, m["code"], m.get("n"))
            return
        if kind == "hb":
            info.last_hb_us = arrival_us
            info.rssi = m.get("rssi")
            info.batt_mv = m.get("batt")
        lock_ack = kind == "ack" and m["cs"] == self.lock_cs
        unmapped = self.clocks.model(pid, m["b"]).map(m["pt"]).err_us >= UNKNOWN_ERR_US
        if unmapped or pid in self._unmapped:  # after what already waits, in order
            self._unmapped.setdefault(pid, []).append((acc, arrival_us, lock_ack))
            return
        self._timed(acc, arrival_us, lock_ack, out)

    def _release_unmapped(self, now_us: int, out: Inbound) -> None:
        """Feed what waited for a clock sample: once the podium has one, or after the hold."""
        for pid in list(self._unmapped):
            waiting = self._unmapped[pid]
            model = self.clocks.get(pid)
            sampled = model is not None and model.map(0).err_us < UNKNOWN_ERR_US  # it has a fit
            age = now_us - waiting[0][1]
            syncing = self._syncs_while_unmapped.get(pid, 0) >= 2
            if sampled or (age >= self.HOLD_UNMAPPED_US and syncing) or age >= self.HOLD_UNMAPPED_MAX_US:
                del self._unmapped[pid]
                self._syncs_while_unmapped.pop(pid, None)
                for acc, arrival_us, lock_ack in waiting:
                    self._timed(acc, arrival_us, lock_ack, out)

    def _timed(self, acc: Accepted, arrival_us: int, lock_ack: bool, out: Inbound) -> None:
        """The event of a buzz, hb or ack, its podium time mapped to host time."""
        m = acc.msg
        pid = acc.podium
        live = self.registry.get(pid).boot == m["b"]  # a boot left while it waited: no model fits

        def mapped(podium_us: int) -> Mapping:
            if live:
                return self.clocks.model(pid, m["b"]).map(podium_us)
            return Mapping(podium_us, UNKNOWN_ERR_US, False)

        mapping = mapped(m["pt"])
        cap_us = self.capture_us(pid)
        if m["t"] == "buzz":
            full = with_capture(mapping, cap_us)
            out.events.append(
                ev.PodiumPress(
                    pid,
                    m["seq"],
                    m["pt"],
                    full.host_us,
                    full.err_us,
                    full.trusted,
                    arrival_us,
                    cap_us=full.err_us - mapping.err_us,
                )
            )
            return
        # A press stamped after this watermark may have happened up to cap_us before it.
        wm = ev.PodiumWatermark(
            pid, m["seq"], mapping.host_us - cap_us, mapping.err_us, lock_ack, gap=acc.gap > 0
        )
        if lock_ack and isinstance(m.get("np"), int):
            # what it pressed this epoch: the arbiter recovers a buzz the broker lost (SPEC §4.9)
            wm = replace(wm, np=m["np"])
            fp = m.get("fp")
            if isinstance(fp, int):
                fpm = with_capture(mapped(fp), cap_us)
                wm = replace(
                    wm, fp=fp, fp_mapped_us=fpm.host_us, fp_err_us=fpm.err_us, fp_trusted=fpm.trusted
                )
        out.events.append(wm)

    def capture_us(self, pid: str) -> int:
        return self.capture(pid)[0]

    def capture(self, pid: str) -> tuple[int, str]:
        """The capture bound of a podium and where it comes from: its hello in this session
        (``declared`` when the hello carried a valid ``cap``, else ``board``: the board's
        default), else the hello the event log replayed (``logged``: a resumed host), else as bad
        as any board (``none``: no hello seen at all)."""
        info = self.registry.get(pid)
        hello = self.registry.hellos.get(pid)
        if info.hello_boot is not None and info.capture_us is not None:
            return info.capture_us, "declared" if declared_cap(info.cap) else "board"
        if hello:
            return int(hello.get("cap_us") or capture_bound_us(str(hello.get("board", "")))), "logged"
        return CAPTURE_UNKNOWN_US, "none"

    def hello_boot(self, pid: str) -> int | None:
        """The boot of the podium whose hello this host has (None: none yet)."""
        return self.registry.get(pid).hello_boot

    # ---- the engine --------------------------------------------------------------------------------
    def feed(self, event: ev.Event, at_us: int, probe: Probe | None = None) -> Batch:
        """One input to the engine at host time ``at_us``: its batch."""
        effects = self.engine.handle(event, at_us)
        if probe is not None:
            probe("engine")
        commit = isinstance(event, ev.PodiumPress | ev.Command)
        return self._batch(effects, at_us, input=event, commit=commit)

    def tick(self, now_us: int) -> Batch:
        """The engine's timers at ``now_us`` (the bounded wait, the buzz window, the answer timer)."""
        return self._batch(self.engine.tick(now_us), now_us, tick=True)

    def resync(self, now_us: int) -> Batch:
        """After (re)connecting: every podium's light, the lock or arming in force, the viewer state."""
        self._configured.clear()
        return self._batch([*self.engine.resync(), ev.StateChanged()], now_us)

    def command(self, name: str, args: dict[str, Any], now_us: int) -> Batch:
        """An operator command: the engine's (logged, undoable), or the host's own (``identify``:
        a blink to find a podium; ``selftest``: measure its capture bound), which touch no state."""
        if name in ("identify", "selftest"):
            if name == "identify":
                w = self.ident(args.get("podium"), args.get("ms", 5000))
            else:
                w = self.selftest(args.get("podium"), args.get("edges", 2000))
            if isinstance(w, str):
                return Batch([ev.CommandRefused(name, w)], [], now_us, _rest=Outbound([], [], None))
            return Batch([], [], now_us, _rest=Outbound([w], [], None))
        return self.feed(ev.Command(name, dict(args)), now_us)

    def _batch(
        self,
        effects: list[ev.Effect],
        at_us: int,
        input: ev.Event | None = None,
        tick: bool = False,
        commit: bool = False,
    ) -> Batch:
        commit = commit or any(not isinstance(e, ev.Logged) for e in effects)
        return Batch(effects, self.locks(effects), at_us, input, tick, commit, _gate=self)

    def config(self, pid: str) -> Wire | None:
        """The podium's retained config (its player's name and colour), when it changed."""
        if not codec.valid_id(pid):
            return None
        name = self.engine.g.podiums.get(pid) or pid
        colour = self.engine.display_colour(name)
        cfg = {"t": "config", "name": name[:32], "col": colour, "bri": 160, "deb": 8, "hb": 1000}
        if self._configured.get(pid) == cfg:
            return None
        self._configured[pid] = cfg
        return Wire(topics.podium(self.studio, pid, "config"), cfg, retain=True)

    def ident(self, podium: object, ms: object) -> Wire | str:
        """The ``ident`` (blink) message for one podium the host knows, or why not."""
        if not isinstance(podium, str) or podium not in self.registry.podiums:
            return f"unknown podium {podium!r}"
        if isinstance(ms, bool) or not isinstance(ms, int) or not 0 < ms <= 600_000:
            return "ms must be a whole number of milliseconds, 1 to 600000"
        msg = {"t": "ident", "cs": self.next_cs(), "dur": ms}
        return Wire(topics.podium(self.studio, podium, "cmd"), msg)

    def selftest(self, podium: object, edges: object) -> Wire | str:
        """The ``selftest`` command (measure the capture bound, jumper fitted), or why not."""
        if not isinstance(podium, str) or podium not in self.registry.podiums:
            return f"unknown podium {podium!r}"
        if isinstance(edges, bool) or not isinstance(edges, int) or not 100 <= edges <= 10_000:
            return "edges must be a whole number, 100 to 10000 per phase"
        msg = {"t": "selftest", "cs": self.next_cs(), "n": edges}
        return Wire(topics.podium(self.studio, podium, "cmd"), msg)

    # ---- outbound ----------------------------------------------------------------------------------
    def locks(self, effects: list[ev.Effect]) -> list[Wire]:
        """The batch's locks: they go out before the batch is fsynced (a lock decides nothing)."""
        out = []
        for e in effects:
            if isinstance(e, ev.Lock):
                self.lock_cs = self.next_cs()
                out.append(
                    Wire(topics.podium(self.studio, topics.ALL, "cmd"), lock_msg(e.epoch, self.lock_cs))
                )
        return out

    def outbound(self, effects: list[ev.Effect], now_us: int) -> Outbound:
        """Everything but the locks: wire messages in order, the notice events, and the view."""
        if not effects and self._last_view is not None:
            return Outbound([], [], None)  # a watermark that changed nothing: no view to build
        wire: list[Wire] = []
        events: list[NoticeEvent] = []
        view = self.engine.view()
        state_changed = False
        for e in effects:
            if isinstance(e, ev.Arm):
                wire.append(
                    Wire(
                        topics.podium(self.studio, topics.ALL, "cmd"),
                        {"t": "arm", "ep": e.epoch, "cs": self.next_cs()},
                    )
                )
            elif isinstance(e, ev.Light):
                wire.append(self._light(e))
            elif isinstance(e, ev.StateChanged):
                state_changed = True
            elif isinstance(e, ev.Logged) and e.kind in ("assigned", "unassigned", "renamed"):
                cfg = self.config(str(e.data.get("podium", "")))
                if cfg is not None:
                    wire.append(cfg)
            elif isinstance(e, ev.CommandRefused):
                log.info("command %s refused: %s", e.name, e.reason)
            events += notice_events(e, view)
        if state_changed or self._last_view is None:
            events = self._phase_events(view) + events
            wire.append(Wire(topics.game_state(self.studio), state_message(view, now_us), retain=True))
            self._last_view = view
            if not events:
                events.append({"k": "view"})  # only the view changed (a podium's clock, a watermark)
        return Outbound(wire, events, view)

    def _phase_events(self, view: GameView) -> list[NoticeEvent]:
        last = self._last_view
        info = view.get("info", {})
        out: list[NoticeEvent] = []
        if last is None or last.get("q") != view["q"]:
            out.append(
                {
                    "k": "question",
                    "q": view["q"],
                    "round": info.get("round", ""),
                    "value": info.get("value", 0),
                    "questions": info.get("questions"),
                }
            )
        if last is None or last.get("phase") != view["phase"] or last.get("q") != view["q"]:
            out.append({"k": "phase", "phase": view["phase"], "q": view["q"], "round": info.get("round", "")})
        return out

    def _light(self, e: ev.Light) -> Wire:
        msg: dict[str, Any] = {"t": "light", "cs": self.next_cs(), "pat": e.pattern}
        if e.colour:
            msg["col"] = e.colour.lower()
        if e.dur_ms:
            msg["dur"] = e.dur_ms
        return Wire(topics.podium(self.studio, e.podium, "cmd"), msg)


def event_messages(
    studio: str, seq: int, host_us: int, events: Sequence[abc.Mapping[str, Any]]
) -> list[Wire]:
    """One notice's events on ``game/events``, one message each (SPEC §3.9): ``n`` the notice's
    seq, ``i`` of ``of`` its place in it, ``d`` the event's fields without ``k`` and the nulls."""
    topic = topics.game_events(studio)
    out = []
    for i, e in enumerate(events):
        d = {k: v for k, v in e.items() if k != "k" and v is not None}
        msg = {"t": "event", "n": seq, "i": i, "of": len(events), "ts": host_us, "k": e["k"], "d": d}
        out.append(Wire(topic, msg))
    return out


def host_presence(online: bool) -> dict[str, Any]:
    """The host's retained presence (and, offline, its last will)."""
    return {"t": "presence", "id": "host", "state": "online" if online else "offline"}


def lock_msg(epoch: int, cs: int) -> dict[str, Any]:
    return {"t": "lock", "ep": epoch, "cs": cs}


def state_message(view: GameView, now_us: int) -> dict[str, Any]:
    """The retained ``game/state`` message: the view with the fields protocol v1 knows."""
    known = {f[0] for f in codec.KINDS["state"]}
    msg = {k: v for k, v in view.items() if k in known}
    msg["t"] = "state"
    msg["ts"] = now_us
    if msg.get("winner") is None:
        msg.pop("winner", None)
    return msg


def _who(podium: str | None, view: GameView) -> Who:
    info = podium_view(view, podium)
    return {"podium": podium, "player": info.get("player") or None, "seat": info.get("seat")}


def decision_events(d: Decision, view: GameView) -> list[NoticeEvent]:
    order: list[Ranked] = []
    for r in d.order:
        who = _who(r.podium, view)
        order.append({**who, "gap_us": r.gap_us, "err_us": r.err_us})
    out: list[NoticeEvent] = []
    if d.is_tie:
        out.append({"k": "tie", "podiums": list(d.tied), "rule": d.tie_rule, "winner": d.winner})
    if d.winner is None:
        out.append({"k": "no_winner", "result": "tie" if d.is_tie else "no_buzz", "order": order})
        return out
    team = None
    for r in d.order:
        if r.podium == d.winner:
            team = r.team
    win: WinnerEvent = {
        "k": "winner",
        **_who(d.winner, view),
        "team": team,
        "order": order,
        "flags": sorted(d.flags),
        "tie_rule": d.tie_rule if d.is_tie else None,
    }
    out.append(win)
    return out


def notice_events(e: ev.Effect, view: GameView) -> list[NoticeEvent]:
    """The notice events (SPEC §3.9) one core effect stands for."""
    if isinstance(e, ev.Arm):
        return [{"k": "armed", "ep": e.epoch, "q": view["q"]}]
    if isinstance(e, ev.Lock):
        return [{"k": "locked", "ep": e.epoch}]
    if isinstance(e, ev.DecisionMade):
        return decision_events(e.decision, view)
    if isinstance(e, ev.DecisionOverturned):
        over: OverturnedEvent = {
            "k": "overturned",
            "old": _who(e.previous.winner, view),
            "new": _who(e.decision.winner, view),
            "old_tied": list(e.previous.tied),
            "tied": list(e.decision.tied),
            "flags": sorted(e.decision.flags),
        }
        return [over, *decision_events(e.decision, view)]
    if isinstance(e, ev.FalseStartPenalty):
        return [{"k": "false_start", **_who(e.podium, view), "lockout_ms": e.lockout_ms}]
    if isinstance(e, ev.Judged):
        return [{"k": "judged", **_who(e.podium, view), "correct": e.correct, "result": e.result}]
    if isinstance(e, ev.Reopened):
        return [{"k": "reopened", "ep": e.epoch, "locked_out": list(e.locked_out)}]
    if isinstance(e, ev.ScoreChanged):
        return [{"k": "score", "player": e.player, "delta": e.delta, "total": e.total, "reason": e.reason}]
    if isinstance(e, ev.TimerStarted):
        return [{"k": "timer_started", "timer": e.timer, "ms": e.ms}]
    if isinstance(e, ev.TimerExpired):
        return [{"k": "timer_expired", "timer": e.timer}]
    if isinstance(e, ev.QuestionOver):
        return [{"k": "question_over", "q": e.q, "result": e.result}]
    if isinstance(e, ev.Light):
        return [{"k": "light", "podium": e.podium, "pat": e.pattern, "col": e.colour, "dur": e.dur_ms}]
    if isinstance(e, ev.CommandRefused):
        return [{"k": "refused", "name": e.name, "reason": e.reason}]
    if isinstance(e, ev.Logged):
        if e.kind == "assigned":
            return [{"k": "assigned", "podium": e.data.get("podium"), "player": e.data.get("player")}]
        if e.kind == "unassigned":
            return [{"k": "unassigned", "podium": e.data.get("podium"), "player": e.data.get("player")}]
        if e.kind in ("online", "offline"):
            return [{"k": "podium", "podium": e.data.get("podium"), "online": e.kind == "online"}]
        if e.kind == "renamed":
            return [{"k": "renamed", "player": e.data.get("player"), "to": e.data.get("to")}]
        if e.kind == "undo":
            return [{"k": "undo", "command": e.data.get("command")}]
        if e.kind == "redo":
            return [{"k": "redo", "command": e.data.get("command")}]
        if e.kind == "command":
            return [{"k": "command", "name": e.data.get("name")}]
    return []
