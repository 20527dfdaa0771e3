# The podium application: wires button capture, podium time, clock sync, the MQTT link,
# lights and settings together, and speaks protocol v1 (buzzline_protocol) to the host.
# Its life cycle (connect, follow the host's presence, hello, sync, arm/press/lock, hold and
# resend, reboot) is SPEC §12's table; the simulated podium follows the same one.
import asyncio
import gc
from time import ticks_add, ticks_diff, ticks_ms, ticks_us

# The codec's decoding half: the podium writes what it sends with podium.wire, so the encoder
# (buzzline_protocol.codec) never comes onto its heap.
from buzzline_protocol import messages as codec
from micropython import const

from podium import drop
from podium.button import Button
from podium.clock import PodiumClock
from podium.lights import Lights
from podium.mqtt import MQTTClient
from podium.wire import UpWriter

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
    pass

# Records for what is sent while armed, encoded without allocation by podium.wire:
# [kind, pt, ep, cs or rssi, fp or rst, np, seq], recycled once the broker acknowledged them.
_K_HB = 1
_K_BUZZ = 2
_K_ACK = 3
_K_HELLO = 4
_K_SYNC = 5  # [kind, t1, n, ...]: no seq (its own topic, QoS 0)
_K_FAULT = 6  # [kind, pt, -, n, code, -, seq]
_RECORDS = 4
# What the podium knows of the host (one int: each instance attribute costs heap, SPEC §12):
_H_ONLINE = const(1)  # its presence on this connection says online
_H_WAS_DOWN = const(2)  # said offline since this connection began (the host restarted)
_H_BURST_FIRST = const(4)  # up waits for the sync burst (the host's clock models are new)
_H_HELLO = const(8)  # a hello is queued, not sent yet (an askhello needs no second one)
_H_SYNC_OPEN = const(16)  # the last sync request's reply has not come back yet
_H_SYNC_MORE = const(32)  # the last reply said more = 1 (the host does not trust the clock yet)
# One sync exchange in flight (SPEC 4.4): the next request waits for the last one's reply, or
# this long; a link that holds the uplink would only queue more behind the held one, samples the
# host throws away. After a reply with more = 1, the next request this soon after the last.
_SYNC_WAIT_MS = const(500)
_SYNC_MORE_MS = const(15)


class Podium:
    ARMED_HB_MS = 100
    ARMED_POLL_MS = 1  # the link polls its socket this often while armed (no allocation)
    LOOP_MS = 20
    SYNC_BURST = 8  # exchanges right after (re)connecting: the host keeps the fastest
    SYNC_BURST_GAP_MS = 60
    # Clock sync (docs/timing.md): after the burst, 16 exchanges a second for a minute, so the
    # host soon holds the few exchanges that met an idle medium both ways, then 4 a second.
    SETTLE_MS = 60000
    SETTLE_PERIOD_MS = 62
    SYNC_PERIOD_MS = 250
    SYNC_TICK_MS = 20
    # While armed the steady exchanges go on until this many replies came back since the burst
    # began, then pause: each reply's decode allocates with the GC off, but a podium that
    # (re)booted or met a returning host mid-question needs more than the burst's 8 before the
    # host trusts its clock (about 2.5 ms of bound after 8 on a busy link; trust is 2 ms).
    SYNC_ARMED = 32
    # While armed, let the GC run again if free heap falls below this. The armed path allocates
    # next to nothing (docs/firmware.md); this is for the command that ends it (a few hundred
    # bytes to decode) and what a fragmented heap needs around it.
    GC_RESERVE = 4096
    SUPERVISE_MS = 500  # how often the supervisor looks for a dead task
    RECENT_CS = 16  # command sequence numbers remembered to drop QoS 1 duplicates

    # Its own state, set by podium.startup.declare (start-up code, dropped after)
    seq: int
    epoch: int
    armed: bool
    faults: int
    gc_forced: int  # the tick loop turned the GC back on while armed (heap below reserve)
    armed_collects: int  # a message met a spent heap while armed: collected, then handled
    heap_peak: int
    heap_live: int
    heap_free_at_arm: int
    heap_free_at_arm_min: int
    armed_alloc_max: int  # most bytes allocated during one armed period
    _arm_alloc: int
    _mem_errors: int
    _gc_off_when_sent: bool
    # ticks_us of the last press edge, lock handled, winner light set (for benchmarks)
    t_press_us: Any
    t_lock_us: Any
    t_winner_us: Any
    restarts: int  # tasks the supervisor restarted (reported as hb.rst)
    _press_ep: int  # the epoch the press summary below is for
    _fp: int  # earliest press in that epoch (podium us)
    _np: int  # presses captured in that epoch
    _hb_queued: bool
    # A fixed array and a count, not pop/append: a list that shrinks and regrows reallocates.
    _recs: list
    _nrec: int
    _tasks: list
    _task_fns: list
    # a ring, filled in place: remembering a command must not allocate while armed
    _recent_cs: list
    _recent_i: int
    # SPEC §12: up waits while the host's presence (on this connection) is not online; each
    # time it turns online: a hello and a sync burst; back after being seen offline (the
    # host restarted, its clock models are new): the burst first, then what waited.
    _host: int  # _H_* flags
    host_epoch: int  # +1 each time the host's presence turns online
    _sync_n: int
    _sync_t1: Any
    _prev: list | None
    _last_sync: Any
    _stop: asyncio.Event
    _selftest_task: asyncio.Task | None
    _sync_flood: int  # selftest: > 0 sync every N ms, < 0 sync bursts back to back

    # Its parts, built by podium.startup.build (annotations only: MicroPython ignores them)
    local: dict
    board: Any  # the board profile (podium.board.*)
    pid: str
    boot: int  # this boot's nonce
    clock: PodiumClock
    settings: dict  # name, col, bri, deb, hb (podium.config)
    lights: Lights
    button: Button
    cap: list | None  # the stored capture bound [p99_us, max_us]
    _wire: UpWriter
    _online: bytes  # this boot's presence "online", prepared: reconnecting needs no big block
    _leaves: dict  # leaf -> message kinds allowed on it (the protocol's table)
    t_up: str
    t_presence: str
    t_sync: str
    mqtt: MQTTClient

    def __init__(self, local: dict, board=None) -> None:
        # Its state and parts are made by podium.startup (declare, build), code main() drops
        # once the podium runs.
        from podium import startup

        # Code first (the board's module too), then the room held back at import: every
        # attribute is made at once (the parts as None until built), so the attribute table
        # (about 1 KB) is allocated whole while the room is still in one piece.
        board = board if board is not None else startup.load_board(local)
        startup.make_room()
        startup.declare(self)
        startup.build(self, local, board)

    # -- upstream ------------------------------------------------------------------------
    @property
    def mem_errors(self) -> int:
        return self._mem_errors + self.mqtt.mem_errors

    def _record(self, kind: int, pt: int, ep: int, c: int) -> list:
        if self._nrec:
            self._nrec -= 1
            r = self._recs[self._nrec]
        else:
            r = [0, 0, 0, 0, 0, 0, 0]
        r[0] = kind
        r[1] = pt
        r[2] = ep
        r[3] = c
        return r

    def _prepare(self, msg: list) -> list:
        # Called by the link at a record's first transmission: seq follows the send order
        # exactly, and a sync request is stamped as it leaves.
        if msg[0] == _K_SYNC:
            self._sync_n += 1
            self._sync_t1 = self.clock.now()
            self._host |= _H_SYNC_OPEN
            msg[1] = self._sync_t1
            msg[2] = self._sync_n
            return msg
        if msg[0] == _K_HELLO:
            self._host &= ~_H_HELLO
        msg[6] = self.seq  # the first message of a boot is seq 0 (SPEC §3.1)
        self.seq += 1
        if msg[0] == _K_HB:
            msg[4] = self.restarts
        return msg

    def _now_watermark(self) -> int:
        # Presses already in the IRQ ring are queued first, so a later pt never overtakes them.
        self.button.drain()
        return self.clock.now()

    def _release(self, r: list) -> None:
        # The link is done with a record (acknowledged, or dropped before it was sent).
        if r[0] == _K_HB:
            self._hb_queued = False
        if self._nrec < _RECORDS:
            self._recs[self._nrec] = r
            self._nrec += 1

    def _render(self, r: list, buf, off: int) -> int:
        # Called by the link at every (re)transmission of a record.
        w = self._wire
        kind = r[0]
        if kind == _K_HB:
            return w.hb(buf, off, r[6], r[1], r[2], r[3], r[4])
        if kind == _K_BUZZ:
            return w.buzz(buf, off, r[6], r[1], r[2])
        if kind == _K_HELLO:
            return w.hello(buf, off, r[6], r[1])
        if kind == _K_SYNC:
            return w.sync(buf, off, r[2], r[1], self._prev)
        if kind == _K_FAULT:
            return w.fault(buf, off, r[6], r[1], r[4], r[3])
        return w.ack(buf, off, r[6], r[1], r[3], r[2], r[4], r[5])

    def _on_press(self, raw) -> None:
        self.t_press_us = raw
        pt = self.clock.at(raw)
        ep = self.epoch
        if ep != self._press_ep:
            self._press_ep = ep
            self._fp = pt
            self._np = 1
        else:
            self._np += 1
            if pt < self._fp:
                self._fp = pt
        self.mqtt.publish(self.t_up, self._record(_K_BUZZ, pt, ep, 0), 1, False, True)

    def _ack(self, pt: int, cs: int) -> None:
        # The lock acknowledgement carries what this podium pressed in the lock's epoch, so the
        # host can tell a buzz the broker lost from one that never happened.
        r = self._record(_K_ACK, pt, self.epoch, cs)
        if self._press_ep == self.epoch and self._np:
            r[4] = self._fp
            r[5] = self._np
        else:
            r[4] = 0
            r[5] = 0
        self.mqtt.publish(self.t_up, r, 1, False, True)

    def _on_fault(self, code: str, n: int) -> None:
        self.faults += 1
        r = self._record(_K_FAULT, self.clock.now(), 0, n)
        r[4] = code
        self.mqtt.publish(self.t_up, r, 1)

    def _heartbeat(self) -> None:
        if self._hb_queued:
            return  # the last one is still waiting for the link: one is enough
        rssi = self.board.rssi()
        if rssi is not None and not -127 <= rssi <= 0:
            rssi = None
        self._hb_queued = True
        self.mqtt.publish(self.t_up, self._record(_K_HB, self._now_watermark(), self.epoch, rssi), 1)

    def _send_sync(self) -> None:
        self._last_sync = ticks_ms()
        self.mqtt.publish(self.t_sync, self._record(_K_SYNC, 0, 0, 0), 0)

    def _on_up(self) -> None:
        if self.armed:
            # Back from an outage while armed: collect what the reconnect left; the GC stays on
            # until the presence and hello below are out (the tick loop turns it off again).
            gc.collect()
            self._gc_off_when_sent = True
        self.lights.set_link(True)
        # The presence went out with the SUBSCRIBE (prepared at boot: reconnecting while armed
        # must not need a large free block); up waits until this broker says the host is online.
        self._host = self._host & _H_HELLO
        self.mqtt.held = True

    @property
    def host_online(self) -> bool:
        return bool(self._host & _H_ONLINE)

    def _hello(self, front: bool) -> None:
        # front: ahead of what waited unsent (no seq yet), so the host has the capture bound
        # before it maps those presses
        r = self._record(_K_HELLO, self._now_watermark(), 0, 0)
        self._host |= _H_HELLO
        self.mqtt.publish(self.t_up, r, 1, False, True, front)

    def _on_host_presence(self, online: bool) -> None:
        h = self._host
        if not online:
            self._host = (h & ~_H_ONLINE) | _H_WAS_DOWN
            self.mqtt.held = True
            return
        if h & _H_ONLINE:
            return
        self.host_epoch += 1
        # a host seen going down has new clock models: sync them before sending presses
        self._host = (h & _H_HELLO) | _H_ONLINE | (_H_BURST_FIRST if h & _H_WAS_DOWN else 0)
        if not h & _H_HELLO:  # one still waiting from before does
            self._hello(True)
        if not self._host & _H_BURST_FIRST:
            self.mqtt.resume()

    def _on_down(self) -> None:
        # Offline no race is won in real time, and reconnecting allocates (socket, streams,
        # packets): with the GC off while armed the heap would run out. Presses keep their IRQ
        # timestamps and wait in the queue.
        gc.enable()
        self.lights.set_link(False)

    # -- downstream ----------------------------------------------------------------------
    def _on_msg(self, topic: str, payload: bytes, retained: bool) -> None:
        if topic.endswith("/fw"):  # no slice: nothing allocated per message while armed
            self.job("fwreq", payload)
            return
        try:
            try:
                msg = codec.decode(payload)
            except MemoryError:  # armed, the GC is off: collect (a lost command is worse)
                self.armed_collects += 1
                gc.collect()
                msg = codec.decode(payload)
            leaf = topic[topic.rfind("/") + 1 :]
            if msg["t"] not in self._leaves[leaf]:  # topics.check_kind, without its module
                raise codec.ProtocolError(codec.R_TOPIC, msg["t"] + " not allowed on " + leaf)
        except codec.ProtocolError as e:
            print("podium: rejected message on", topic, str(e))
            return
        kind = msg["t"]
        if kind == "presence":
            if msg["id"] == "host":  # the only presence it subscribes to
                self._on_host_presence(msg["state"] == "online")
        elif kind == "syncr":
            if msg["id"] == self.pid and msg["n"] == self._sync_n and msg["t1"] == self._sync_t1:
                self._prev = [msg["n"], msg["t1"], msg["t2"], msg["t3"], self.clock.now()]
                self._exchanges += 1
                self._host &= ~(_H_SYNC_OPEN | _H_SYNC_MORE)
                if msg.get("more") == 1:
                    self._host |= _H_SYNC_MORE
        elif kind == "config":
            self._config(msg)
        else:
            cs = msg["cs"]
            if cs in self._recent_cs:
                return  # a QoS 1 redelivery (or the same command on both cmd topics)
            self._recent_cs[self._recent_i] = cs
            self._recent_i = (self._recent_i + 1) % self.RECENT_CS
            try:
                self._command(kind, msg)
            except MemoryError:
                if kind != "light" and kind != "ident":
                    raise  # counted by the client; the others collect before they allocate
                # Armed, the GC is off and a light can arrive with the heap spent (a winner, a
                # resync): collect and show it, as for the decode above (a pause of a
                # millisecond or two beats a wrong light for the rest of the question).
                self.armed_collects += 1
                gc.collect()
                self._command(kind, msg)

    def _command(self, kind: str, msg: dict) -> None:
        if kind == "lock":
            self.t_lock_us = ticks_us()
            pt = self._now_watermark()
            self.epoch = msg["ep"]
            self._disarm()
            self._ack(pt, msg["cs"])
            self.lights.set("locked")
        elif kind == "arm":
            self.epoch = msg["ep"]
            self.lights.set("armed")
            # Collect now, then not while armed: a collection would delay soft-IRQ capture.
            gc.collect()
            self.heap_live = max(self.heap_live, gc.mem_alloc())
            self._recs_full()
            free = gc.mem_free()
            self._arm_alloc = gc.mem_alloc()
            self.heap_free_at_arm = free
            if not self.heap_free_at_arm_min or free < self.heap_free_at_arm_min:
                self.heap_free_at_arm_min = free
            gc.disable()
            self.mqtt.read_poll_ms = self.ARMED_POLL_MS
            self.armed = True
        elif kind == "light":
            if "ep" in msg and msg["ep"] != self.epoch:
                print("podium: light for another epoch ignored")
                return
            self.lights.set(msg["pat"], msg.get("col"), msg.get("dur", 0))
            if msg["pat"] == "winner":
                self.t_winner_us = ticks_us()
        elif kind == "ident":
            self.lights.set("identify", None, msg["dur"])
        elif kind == "selftest":
            self.job("selftest", msg["n"])
        elif kind == "askhello" and not self._host & _H_HELLO:  # one waiting answers it
            self._hello(False)

    def job(self, name: str, arg) -> None:
        # A rare job's module (podium.selftest, podium.fwreq) is loaded for it, not resident:
        # its start(podium, arg) runs it (and the module is dropped when done).
        gc.collect()
        try:
            __import__("podium." + name, None, None, ("start",)).start(self, arg)
        except MemoryError:
            print(name, ": not enough heap to load it")

    def _recs_full(self) -> None:
        while self._nrec < _RECORDS:
            self._recs[self._nrec] = [0, 0, 0, 0, 0, 0, 0]
            self._nrec += 1

    def _disarm(self) -> None:
        if self.armed and not gc.isenabled():
            used = gc.mem_alloc() - self._arm_alloc
            if used > self.armed_alloc_max:
                self.armed_alloc_max = used
        self.armed = False
        self.mqtt.read_poll_ms = 0
        gc.enable()

    def _config(self, msg: dict) -> None:
        # Rare (the retained one at each connect, an operator's change): its code is loaded
        # for it and dropped after, not resident.
        try:
            from podium import config
        except MemoryError:  # armed, the GC is off: collect, as for a decode
            self.armed_collects += 1
            gc.collect()
            from podium import config
        config.apply(self, msg)
        del config
        drop("podium.config")

    # -- tasks ---------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        last_hb = ticks_ms()
        while True:
            await asyncio.sleep_ms(self.LOOP_MS)
            now = ticks_ms()
            self.clock.now()  # keeps the 64-bit extension ahead of the tick wrap
            used = gc.mem_alloc()
            if used > self.heap_peak:
                self.heap_peak = used
            if self._gc_off_when_sent and (not self.armed or not self.mqtt.pending()):
                self._gc_off_when_sent = False
                if self.armed:
                    gc.collect()
                    gc.disable()
            if self.armed and not gc.isenabled() and gc.mem_free() < self.GC_RESERVE:
                self.gc_forced += 1
                gc.enable()
            interval = self.ARMED_HB_MS if self.armed else self.settings["hb"]
            if ticks_diff(now, last_hb) >= interval:
                last_hb = now
                if self.mqtt.up and self.host_online:  # none pile up while the host is away
                    self._heartbeat()

    async def _sync_loop(self) -> None:
        seen = 0
        settle_until = ticks_ms()
        while True:
            flood = self._sync_flood
            await asyncio.sleep_ms(flood if flood > 0 else self.SYNC_TICK_MS)
            if not self.mqtt.up or not self.host_online:
                continue  # nobody to answer: no exchanges while the host is away
            if flood > 0:
                self._send_sync()  # selftest traffic
                continue
            if self.host_epoch != seen or flood < 0:  # a burst each time the host is (back) online
                # armed or not: up may be waiting for it (the host came back mid-question); the
                # replies' decodes meet a spent heap at worst, which _on_msg collects for
                seen = self.host_epoch
                self._exchanges = 0
                self._host &= ~_H_SYNC_MORE
                for _ in range(self.SYNC_BURST):
                    self._send_sync()
                    # one in flight: the next waits for this reply (_SYNC_WAIT_MS at most)
                    while (
                        self._host & _H_SYNC_OPEN and ticks_diff(ticks_ms(), self._last_sync) < _SYNC_WAIT_MS
                    ):
                        await asyncio.sleep_ms(self.SYNC_TICK_MS)
                    await asyncio.sleep_ms(
                        _SYNC_MORE_MS if self._host & _H_SYNC_MORE else self.SYNC_BURST_GAP_MS
                    )
                self._send_sync()  # carries the burst's last sample
                settle_until = ticks_add(ticks_ms(), self.SETTLE_MS)
                if self._host & _H_BURST_FIRST and self.host_epoch == seen:
                    self._host &= ~_H_BURST_FIRST
                    if self.host_online:
                        self.mqtt.resume()
                continue
            if self.armed and self._exchanges >= self.SYNC_ARMED and not self._host & _H_SYNC_MORE:
                # No more steady exchanges while armed: the reply's decode allocates and the GC is
                # off. The model's wander term covers the gap (0.5 ppm: 5 us per 10 s). Until
                # SYNC_ARMED replies came back (a reboot or a host's return mid-question, a lossy
                # link), and while the host asks for more (it does not trust the clock yet, and
                # stops asking after 256 exchanges), they go on: without trust the host calls this
                # podium's presses ties. GC_RESERVE collects if the replies spend the heap.
                continue
            now = ticks_ms()
            if self._host & _H_SYNC_OPEN and ticks_diff(now, self._last_sync) < _SYNC_WAIT_MS:
                continue  # one exchange in flight
            period = self.SETTLE_PERIOD_MS if ticks_diff(settle_until, now) > 0 else self.SYNC_PERIOD_MS
            if self._host & _H_SYNC_MORE:
                period = _SYNC_MORE_MS
            if ticks_diff(now, self._last_sync) >= period:
                self._send_sync()

    def stop(self) -> None:
        self._stop.set()

    async def _supervise(self) -> None:
        # A task that died (an exception it did not handle) is started again and counted; the
        # count goes out in every heartbeat as rst.
        while True:
            await asyncio.sleep_ms(self.SUPERVISE_MS)
            for i in range(len(self._tasks)):
                if self._tasks[i].done():
                    self.restarts += 1
                    self._tasks[i] = asyncio.create_task(self._task_fns[i]())
                    print("podium: restarted task", i, "restarts", self.restarts)

    async def run(self) -> None:
        # Starting and stopping are podium.startup's: still loaded from the build (main), it
        # is dropped once the tasks run, and loaded again to stop.
        from podium import startup

        tasks = startup.start(self)
        del startup
        drop("podium.startup")
        drop("podium.config")
        gc.collect()
        self.heap_live = gc.mem_alloc()
        await self._stop.wait()
        try:
            from podium import startup
        except MemoryError:
            # A clean stop (presence offline, DISCONNECT) is a courtesy: the broker's will says
            # offline anyway. On a heap too cut up to load its code, just stop.
            print("podium: stopped without saying goodbye (no heap for it)")
            self.deinit()
            return
        await startup.stop(self, tasks)

    def deinit(self) -> None:
        self.button.deinit()
        self.lights.deinit()
        self.board.deinit()


def main(path: str = "podium.json", rel=None) -> None:
    """Run the podium; ``rel``: the release firmware/relboot.py picked (None: the flashed one)."""
    from podium import startup

    try:
        local = startup.load_local(path)
        # the running release, kept in local (the Podium's attributes are all declared at once)
        local["rel"] = rel
        podium = Podium(local)
    except ValueError as e:  # startup.ConfigError, or a bad value in podium.json
        print("podium: cannot start:", str(e))
        raise SystemExit(2)
    del startup  # run() drops it once the tasks are started (loading it again could fail)
    drop("buzzline_protocol.topics")
    asyncio.run(podium.run())
    if "reboot" in local["rel"]:  # podium.fwreq stopped it: update mode next
        local["rel"]["reboot"]()
