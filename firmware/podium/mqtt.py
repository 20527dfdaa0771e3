# A small asyncio MQTT 3.1.1 client: CONNECT with will and credentials, SUBSCRIBE, PUBLISH
# QoS 0/1 (PUBACK, resend with DUP after a reconnect), keepalive by ticks_diff, reconnect
# with jittered backoff, and a bounded outbound queue that drops the oldest droppable entry.
# `held` keeps the QoS 1 stream (the podium's `up`) waiting, in order, while QoS 0 goes on: the
# podium holds upstream while the host is offline (SPEC §12) but still syncs its clock.
# The steady state allocates (almost) nothing, so it can run with the GC off while armed:
# publishes are written straight to the socket from a preallocated packet buffer when nothing
# is queued ahead, queue entries are recycled, and packets are read into a preallocated buffer.
# The socket is its own, not an asyncio Stream: open_connection, the Stream and wait_for_ms
# would bring two more asyncio modules onto the heap (2.5 KB) for what a few lines do here.
# (Over 400 lines on purpose: the allocation-free send and receive paths share the entry
# layout and the buffers, and are easier to audit for allocation side by side.)
import asyncio
import gc
from asyncio import core  # type: ignore[attr-defined]
from random import getrandbits
from time import ticks_diff, ticks_ms

from micropython import const

from podium import drop

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are never evaluated
    pass

_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)

_E_TOPIC = const(0)
_E_DATA = const(1)
_E_QOS = const(2)
_E_RETAIN = const(3)
_E_KEEP = const(4)
_E_PID = const(6)
_E_SENT = const(7)
_PING = b"\xc0\x00"


class MQTTError(Exception):
    pass


class MQTTClient:
    QUEUE_MAX = 24  # pending publishes not yet sent
    INFLIGHT = 8  # QoS 1 publishes sent and not yet acknowledged
    ACK_TIMEOUT_MS = 4000  # no PUBACK for this long: the link is taken as dead
    CONNECT_TIMEOUT_MS = 4000
    BACKOFF_MIN_MS = 100
    BACKOFF_FAST_MS = 250  # retry at least this often while an outage is young ...
    BACKOFF_FAST_FOR_MS = 10000  # ... for this long (a broker restart is back in a second or two)
    BACKOFF_MAX_MS = 4000
    TICK_MS = 100  # keepalive and timeout checks

    # Its state, made by podium.startup.link (start-up code, not resident; annotations only:
    # MicroPython ignores them). Packed: every instance attribute costs a slot, and the table
    # grows in steps of ~1 KB.
    _addr: tuple  # (host, port)
    _login: tuple  # (client_id, user, password)
    keepalive: int
    will: Any  # (topic, payload bytes, qos, retain) or None
    # (topic, payload bytes, retain), published at QoS 1 right behind each SUBSCRIBE, ahead
    # of anything held or queued: the podium's presence (or None)
    birth: Any
    subs: tuple  # ((topic, qos), ...)
    on_msg: Any  # on_msg(topic: str, payload: bytes, retained: bool)
    on_up: Any
    on_down: Any
    # prepare(obj) turns a queued object into its payload at first transmission, so
    # sequence numbers and send times are assigned in send order. It returns bytes, or a
    # list (a record) that render(record, buf, off) -> end writes into the packet buffer
    # at every (re)transmission: no payload is ever allocated for a record.
    prepare: Any
    render: Any
    release: Any  # release(record): the link no longer holds it
    net_up: Any  # coroutine function bringing the network link up (Wi-Fi), or None
    up: bool
    # True: QoS 1 publishes wait (in order; the in-flight ones of an earlier connection are
    # not resent either) until resume(). Set by on_up; the app resumes it.
    held: bool
    _resend_due: bool
    drops: int
    connects: int
    mem_errors: int  # MemoryErrors caught (each one handled without allocating)
    mem_site: int  # where the last one was caught (a number: nothing to allocate)
    too_long: int  # inbound packets longer than the receive buffer (tail dropped)
    # > 0: poll the socket this often instead of waiting on the I/O queue, whose wait
    # allocates a small entry each time (the podium polls while armed, with the GC off).
    read_poll_ms: int
    last_error: str
    # entry: [topic, data, qos, retain, keep, len, pid, sent_ms]
    _q: list
    _inflight: list
    # recycled entries: a fixed array and a count (a list that shrinks and regrows reallocates)
    _free: list
    _nfree: int
    _pid: int
    _wake: asyncio.Event
    _dead: bool
    _sock: Any  # the connection's socket, non-blocking
    _out: bytes  # what the socket did not take at once, for _drain
    _last_tx: Any  # ticks_ms
    _last_rx: Any
    _tx: bytearray
    _rx: bytearray
    _chunk: bytearray
    _puback: bytearray
    _topics: dict  # topic str -> its encoded bytes, built once per topic
    _st: int
    _first: int
    _rlen: int
    _shift: int
    _got: int
    _connack: int

    # -- public API --------------------------------------------------------------------
    def publish(
        self, topic: str, data, qos: int = 0, retain: bool = False, keep: bool = False, front: bool = False
    ) -> bool:
        """Queue a publish; returns False when it was dropped. `keep` entries are dropped last.

        With the link up and nothing queued ahead it is sent at once, from the caller."""
        if qos == 0 and not self.up:
            return False  # QoS 0 is for fresh data only (clock sync): never queued across outages
        q = self._q
        if len(q) >= self.QUEUE_MAX:
            victim = -1
            for i in range(len(q)):
                if not q[i][_E_KEEP]:
                    victim = i
                    break
            if victim < 0 and not keep:
                self.drops += 1
                return False
            self._release(q.pop(victim if victim >= 0 else 0))
            self.drops += 1
        e = self._entry()
        e[_E_TOPIC] = topic
        e[_E_DATA] = data
        e[_E_QOS] = qos
        e[_E_RETAIN] = retain
        e[_E_KEEP] = keep
        if front:
            q.insert(0, e)
        else:
            q.append(e)
        if (len(q) == 1 or self.held) and self.up and not self._dead:
            self._flush()
        if q:
            self._wake.set()
        return True

    def pending(self) -> int:
        return len(self._q) + len(self._inflight)

    def resume(self) -> None:
        """End the hold: what the broker never acknowledged goes first (DUP), then the queue."""
        self.held = False
        if not self.up or self._dead:
            return
        if self._resend_due:
            self._resend_due = False
            for e in self._inflight:
                self._write_publish(e, True)
                e[_E_SENT] = ticks_ms()
        self._flush()
        self._wake.set()

    async def run(self) -> None:
        backoff = self.BACKOFF_MIN_MS
        down_at = ticks_ms()
        while True:
            try:
                if self.net_up is not None:
                    await self.net_up()
                await self._connect()
                backoff = self.BACKOFF_MIN_MS
                await self._session()
            except asyncio.CancelledError:
                self._close()
                raise
            except MemoryError:
                self.mem_errors += 1
                self.mem_site = 1
                self.last_error = "MemoryError"
            except Exception as e:
                try:
                    self.last_error = repr(e)
                    print("mqtt:", self.last_error)
                except MemoryError:
                    self.mem_errors += 1
                    self.mem_site = 2
                    self.last_error = "MemoryError"
            self._close()
            if backoff == self.BACKOFF_MIN_MS:
                down_at = ticks_ms()  # the first failed try of an outage
            # Jitter spreads a studio full of podiums reconnecting after a broker restart.
            await asyncio.sleep_ms(backoff + getrandbits(7))
            cap = min(self.BACKOFF_FAST_MS, self.BACKOFF_MAX_MS)
            if ticks_diff(ticks_ms(), down_at) >= self.BACKOFF_FAST_FOR_MS:
                cap = self.BACKOFF_MAX_MS
            backoff = min(backoff * 2, cap)

    # -- queue entries -------------------------------------------------------------------
    def _entry(self) -> list:
        if self._nfree:
            self._nfree -= 1
            return self._free[self._nfree]
        return [None, None, 0, False, False, 0, 0, 0]

    def _release(self, e: list) -> None:
        if isinstance(e[_E_DATA], list) and self.release is not None:
            self.release(e[_E_DATA])
        e[_E_TOPIC] = None
        e[_E_DATA] = None
        if self._nfree < len(self._free):
            self._free[self._nfree] = e
            self._nfree += 1

    # -- connection --------------------------------------------------------------------
    def _close(self) -> None:
        was_up = self.up
        self.up = False
        self._dead = True
        if self._sock is not None:
            try:
                self._sock.close()  # closed for real: a board has few sockets to leak
            except Exception:
                pass
        self._sock = None
        self._out = b""
        if was_up and self.on_down is not None:
            self.on_down()

    def _emit(self, data, off: int, n: int) -> None:
        """Write data[off:off + n] to the socket now; what the socket cannot take waits in
        self._out for the send loop's drain. Never raises: a failure marks the link dead."""
        s = self._sock
        if s is None:
            self._dead = True
            return
        try:
            done = 0
            if not self._out:
                ret = s.write(data, off, n)  # stream write(buf, off, n)
                if ret == n:
                    self._last_tx = ticks_ms()
                    return
                done = ret or 0
            self._out += bytes(memoryview(data)[off + done : off + n])
            self._last_tx = ticks_ms()
            self._wake.set()
        except MemoryError:
            self.mem_errors += 1
            self.mem_site = 3
            self._dead = True
            self._wake.set()
        except OSError:
            self._dead = True
            self._wake.set()

    async def _drain(self):
        # Writes what waits in self._out as the socket takes it; whatever _emit appends
        # meanwhile goes out too, in order (the slice taken is only what was written).
        s = self._sock
        while self._out and s is not None and s is self._sock:
            yield core._io_queue.queue_write(s)
            if s is not self._sock:
                break  # closed meanwhile
            n = s.write(self._out)
            if n:
                self._out = self._out[n:]
                self._last_tx = ticks_ms()

    async def _send(self, data: bytes) -> None:
        if self._sock is None:
            raise MQTTError("not connected")
        self._emit(data, 0, len(data))
        if self._dead:
            raise MQTTError("write failed")
        if self._out:
            await self._drain()

    async def _connect(self) -> None:
        self._dead = False
        # The session's opening (socket, CONNECT, CONNACK, SUBSCRIBE) is loaded for each
        # connect and dropped after it: between outages a podium does not carry it.
        from podium import mqtt_open

        opening = mqtt_open.open_session(self)
        del mqtt_open
        drop("podium.mqtt_open")  # the coroutine holds what it needs until it ends
        await opening
        self.connects += 1
        self.up = True
        self._last_rx = ticks_ms()
        self.held = False
        self._resend_due = bool(self._inflight)
        if self.on_up is not None:
            self.on_up()
        if not self.held:
            self.resume()  # what the broker never acknowledged, first and in order, marked DUP
        if self._dead:
            raise MQTTError("write failed")

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    def _topic(self, topic: str) -> bytes:
        b = self._topics.get(topic)
        if b is None:
            b = topic.encode()
            self._topics[topic] = b
        return b

    def _write_publish(self, e: list, dup: bool) -> None:
        """Build the PUBLISH packet for entry e in the packet buffer and write it. The payload
        goes at a fixed offset that leaves room for a 2-byte remaining length; the header is
        then written right-aligned in front of it."""
        tx = self._tx
        qos = e[_E_QOS]
        tb = self._topic(e[_E_TOPIC])
        tl = len(tb)
        p = 5 + tl + (2 if qos else 0)
        data = e[_E_DATA]
        if isinstance(data, list):
            plen = self.render(data, tx, p) - p
        else:
            plen = len(data)
            if p + plen <= len(tx):
                tx[p : p + plen] = data
        rem = p - 3 + plen
        if rem < 128:
            start = 1
            tx[2] = rem
        else:
            start = 0
            tx[1] = (rem & 0x7F) | 0x80
            tx[2] = rem >> 7
        tx[start] = _PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if e[_E_RETAIN] else 0)
        tx[3] = tl >> 8
        tx[4] = tl & 0xFF
        tx[5 : 5 + tl] = tb
        if qos:
            pid = e[_E_PID]
            tx[5 + tl] = pid >> 8
            tx[6 + tl] = pid & 0xFF
        if p + plen <= len(tx):
            self._emit(tx, start, p + plen - start)
        else:  # a long payload (hello, config echo): header, then the payload itself
            self._emit(tx, start, p - start)
            self._emit(data, 0, plen)

    def _prepare(self, e: list) -> int:
        """1: ready; 0: cannot be encoded, dropped (counted); 2: no heap now, a `keep` entry
        stays at the head of the queue for the next tick (nothing kept is lost for lack of heap)."""
        data = e[_E_DATA]
        if isinstance(data, (bytes, bytearray)):
            return 1
        for attempt in (0, 1):
            try:
                e[_E_DATA] = self.prepare(data)
                return 1
            except MemoryError:
                self.mem_errors += 1
                self.mem_site = 4
                if attempt:
                    if e[_E_KEEP]:
                        return 2
                    break
                gc.collect()  # even while armed: a lost message is worse than a pause
            except Exception as e2:
                try:
                    print("mqtt: cannot prepare", repr(e2))
                except MemoryError:
                    self.mem_errors += 1
                    self.mem_site = 5
                break
        self.drops += 1
        return 0

    def _flush(self) -> None:
        """Send queued entries while the link and the in-flight window allow; no awaiting.
        QoS 1 entries go strictly in order; a QoS 0 one (a sync request) passes the held ones."""
        q = self._q
        i = 0
        blocked = False  # a QoS 1 entry waits: every later QoS 1 entry waits behind it
        while i < len(q) and self.up and not self._dead:
            e = q[i]
            if e[_E_QOS] and (blocked or self.held or len(self._inflight) >= self.INFLIGHT):
                blocked = True
                i += 1
                continue
            ready = self._prepare(e)
            if ready == 2:
                return
            q.pop(i)
            if not ready:
                self._release(e)
                continue
            if e[_E_QOS]:
                e[_E_PID] = self._next_pid()
                e[_E_SENT] = ticks_ms()
                self._inflight.append(e)
                self._write_publish(e, False)
            else:
                self._write_publish(e, False)
                self._release(e)

    async def _session(self) -> None:
        reader = asyncio.create_task(self._read_loop())
        try:
            await self._send_loop()
        finally:
            reader.cancel()

    # -- receiving -----------------------------------------------------------------------
    # Bytes are read into a small chunk buffer and parsed into the packet buffer by a state
    # machine, with no allocation per packet; only a PUBLISH to the application allocates
    # its topic and payload. The waits yield to the I/O queue directly, as Stream.read does
    # (a coroutine per read would allocate).
    def _reset_parser(self) -> None:
        self._st = 0  # 0: fixed header, 1: remaining length, 2: body
        self._first = 0
        self._rlen = 0
        self._shift = 0
        self._got = 0
        self._connack = -1

    def _feed(self, n: int) -> None:
        chunk = self._chunk
        rx = self._rx
        cap = len(rx)
        for k in range(n):
            b = chunk[k]
            st = self._st
            if st == 0:
                self._first = b
                self._rlen = 0
                self._shift = 0
                self._got = 0
                self._st = 1
            elif st == 1:
                self._rlen |= (b & 0x7F) << self._shift
                if b & 0x80:
                    self._shift += 7
                    if self._shift > 21:
                        raise MQTTError("bad remaining length")
                elif self._rlen:
                    self._st = 2
                else:
                    self._st = 0
                    self._dispatch()
            else:
                if self._got < cap:
                    rx[self._got] = b
                self._got += 1
                if self._got == self._rlen:
                    self._st = 0
                    self._dispatch()
        self._last_rx = ticks_ms()

    def _dispatch(self) -> None:
        kind = self._first & 0xF0
        rx = self._rx
        n = self._rlen
        if kind == _PUBACK and n == 2:
            pid = (rx[0] << 8) | rx[1]
            infl = self._inflight
            for j in range(len(infl)):
                if infl[j][_E_PID] == pid:
                    self._release(infl.pop(j))
                    break
            if self._q:
                self._flush()
        elif kind == _PUBLISH:
            self._on_publish(n)
        elif kind == _CONNACK and n == 2:
            self._connack = rx[1]
        elif kind == _SUBACK:
            for j in range(2, min(n, len(rx))):
                if rx[j] == 0x80:
                    print("mqtt: subscription refused")

    def _on_publish(self, n: int) -> None:
        rx = self._rx
        qos = (self._first >> 1) & 3
        tl = (rx[0] << 8) | rx[1]
        i = 2 + tl
        if qos:
            pa = self._puback
            pa[2] = rx[i]
            pa[3] = rx[i + 1]
            i += 2
            self._emit(pa, 0, 4)
        if n > len(rx):
            self.too_long += 1
            print("mqtt: message too long, dropped")
            return
        if self.on_msg is None:
            return
        try:
            topic = bytes(rx[2 : 2 + tl]).decode()
            self.on_msg(topic, bytes(rx[i:n]), bool(self._first & 1))
        except MemoryError:
            self.mem_errors += 1
            self.mem_site = 6
        except Exception as e:
            try:
                print("mqtt: handler error", repr(e))
            except MemoryError:
                self.mem_errors += 1
                self.mem_site = 7

    async def _read_loop(self):
        try:
            s = self._sock
            if s is None:
                raise MQTTError("not connected")
            while True:
                n = s.readinto(self._chunk)
                if n is None:
                    if self.read_poll_ms:
                        await asyncio.sleep_ms(self.read_poll_ms)
                    else:
                        yield core._io_queue.queue_read(s)
                    continue
                if not n:
                    break
                self._feed(n)
        except MemoryError:
            self.mem_errors += 1
            self.mem_site = 8
        except Exception as e:
            try:
                self.last_error = repr(e)
            except MemoryError:
                self.mem_errors += 1
                self.mem_site = 9
        self._dead = True
        self._wake.set()

    # -- sending ------------------------------------------------------------------------
    async def _send_loop(self) -> None:
        ka = self.keepalive * 1000
        while not self._dead:
            self._flush()
            if self._out:
                await self._drain()
            now = ticks_ms()
            if (
                self._inflight
                and not self._resend_due
                and ticks_diff(now, self._inflight[0][_E_SENT]) > self.ACK_TIMEOUT_MS
            ):
                raise MQTTError("no PUBACK")
            if ticks_diff(now, self._last_rx) > ka + ka // 2:
                raise MQTTError("keepalive expired")
            if ticks_diff(now, self._last_tx) > ka // 2:
                self._emit(_PING, 0, 2)
            if self._q and not self.held and not self._dead:
                # Something waits for the in-flight window or the socket: woken by a PUBACK.
                self._wake.clear()
                await self._wake.wait()
            else:
                # Idle: publishes go out from the caller (publish -> _flush); only the timers
                # need this task, and a plain sleep allocates nothing (an Event wait would).
                await asyncio.sleep_ms(self.TICK_MS)
        raise MQTTError("link lost: " + self.last_error)

    async def disconnect(self) -> None:
        try:
            await self._send(bytes([_DISCONNECT, 0]))
        except Exception:
            pass
        self._close()

    def deinit(self) -> None:
        self._close()
