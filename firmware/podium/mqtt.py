# A small asyncio MQTT 3.1.1 client: CONNECT with will and credentials, SUBSCRIBE, PUBLISH
# QoS 0/1 (PUBACK, resend with DUP after a reconnect), keepalive by ticks_diff, reconnect
# with jittered backoff, and a bounded outbound queue that drops the oldest droppable entry.
import asyncio
import gc
import struct
from random import getrandbits
from time import ticks_diff, ticks_ms

from micropython import const

_CONNECT = const(0x10)
_CONNACK = const(0x20)
_PUBLISH = const(0x30)
_PUBACK = const(0x40)
_SUBSCRIBE = const(0x82)
_SUBACK = const(0x90)
_PINGREQ = const(0xC0)
_PINGRESP = const(0xD0)
_DISCONNECT = const(0xE0)

_CONNACK_REASONS = (
    "",
    "bad protocol",
    "id rejected",
    "server unavailable",
    "bad credentials",
    "not authorised",
)


class MQTTError(Exception):
    pass


def _str(s) -> bytes:
    b = s.encode() if isinstance(s, str) else bytes(s)
    return struct.pack("!H", len(b)) + b


def _packet(first: int, body: bytes) -> bytes:
    n = len(body)
    hdr = bytearray([first])
    while True:
        d = n & 0x7F
        n >>= 7
        hdr.append(d | 0x80 if n else d)
        if not n:
            break
    return bytes(hdr) + body


class MQTTClient:
    QUEUE_MAX = 24  # pending publishes not yet sent
    INFLIGHT = 8  # QoS 1 publishes sent and not yet acknowledged
    ACK_TIMEOUT_MS = 4000  # no PUBACK for this long: the link is taken as dead
    CONNECT_TIMEOUT_MS = 4000
    BACKOFF_MIN_MS = 100
    BACKOFF_MAX_MS = 4000

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str,
        keepalive: int = 10,
        user=None,
        password=None,
        will=None,
        subs=(),
        on_msg=None,
        on_up=None,
        on_down=None,
        prepare=None,
        net_up=None,
    ) -> None:
        self.host = host
        self.port = port
        self.client_id = client_id
        self.keepalive = keepalive
        self.user = user
        self.password = password
        self.will = will  # (topic, payload bytes, qos, retain) or None
        self.subs = subs  # ((topic, qos), ...)
        self.on_msg = on_msg  # on_msg(topic: str, payload: bytes, retained: bool)
        self.on_up = on_up
        self.on_down = on_down
        # prepare(obj) -> bytes turns a queued object into its payload at first transmission,
        # so sequence numbers and send times are assigned in send order.
        self.prepare = prepare
        self.net_up = net_up  # coroutine function bringing the network link up (Wi-Fi)
        self.up = False
        self.drops = 0
        self.connects = 0
        self.last_error = ""
        self._q: list[list] = []  # [topic, data, qos, retain, keep]
        self._inflight: list[list] = []  # [pid, topic, payload, retain, sent_ms]
        self._pid = 0
        self._wake = asyncio.Event()
        self._dead = False
        self._reader = None
        self._writer = None
        self._last_tx = ticks_ms()
        self._last_rx = ticks_ms()

    # -- public API --------------------------------------------------------------------
    def publish(
        self, topic: str, data, qos: int = 0, retain: bool = False, keep: bool = False, front: bool = False
    ) -> bool:
        """Queue a publish; returns False when it was dropped. `keep` entries are dropped last."""
        if qos == 0 and not self.up:
            return False  # QoS 0 is for fresh data only (clock sync): never queued across outages
        q = self._q
        if len(q) >= self.QUEUE_MAX:
            victim = -1
            for i in range(len(q)):
                if not q[i][4]:
                    victim = i
                    break
            if victim < 0 and not keep:
                self.drops += 1
                return False
            q.pop(victim if victim >= 0 else 0)
            self.drops += 1
        e = [topic, data, qos, retain, keep]
        if front:
            q.insert(0, e)
        else:
            q.append(e)
        self._wake.set()
        return True

    def pending(self) -> int:
        return len(self._q) + len(self._inflight)

    async def run(self) -> None:
        backoff = self.BACKOFF_MIN_MS
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
            except Exception as e:
                self.last_error = repr(e)
                print("mqtt:", self.last_error)
            self._close()
            # Jitter spreads a studio full of podiums reconnecting after a broker restart.
            await asyncio.sleep_ms(backoff + getrandbits(7))
            backoff = min(backoff * 2, self.BACKOFF_MAX_MS)

    # -- connection --------------------------------------------------------------------
    def _close(self) -> None:
        was_up = self.up
        self.up = False
        self._dead = True
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:
                pass
        self._writer = None
        self._reader = None
        if was_up and self.on_down is not None:
            self.on_down()

    async def _send(self, data: bytes) -> None:
        w = self._writer
        if w is None:
            raise MQTTError("not connected")
        w.write(data)
        await w.drain()
        self._last_tx = ticks_ms()

    async def _read_packet(self) -> tuple[int, bytes]:
        r = self._reader
        if r is None:
            raise MQTTError("not connected")
        first = (await r.readexactly(1))[0]
        n = 0
        shift = 0
        while True:
            d = (await r.readexactly(1))[0]
            n |= (d & 0x7F) << shift
            if not d & 0x80:
                break
            shift += 7
            if shift > 21:
                raise MQTTError("bad remaining length")
        body = await r.readexactly(n) if n else b""
        self._last_rx = ticks_ms()
        return first, body

    async def _connect(self) -> None:
        self._dead = False
        self._reader, self._writer = await asyncio.wait_for_ms(
            asyncio.open_connection(self.host, self.port), self.CONNECT_TIMEOUT_MS
        )
        try:
            # IPPROTO_TCP, TCP_NODELAY: a buzz must not wait behind Nagle's algorithm for the
            # broker to acknowledge the previous segment (numbers: not every port names them).
            self._writer.s.setsockopt(6, 1, 1)
        except Exception:
            pass
        flags = 0x02  # clean session: our own queue carries unacknowledged messages
        payload = _str(self.client_id)
        if self.will is not None:
            topic, msg, qos, retain = self.will
            flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
            payload += _str(topic) + _str(msg)
        if self.user:
            flags |= 0x80
            payload += _str(self.user)
            if self.password:
                flags |= 0x40
                payload += _str(self.password)
        body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", self.keepalive) + payload
        await self._send(_packet(_CONNECT, body))
        pkt: tuple[int, bytes] = await asyncio.wait_for_ms(self._read_packet(), self.CONNECT_TIMEOUT_MS)
        first, body = pkt
        if first != _CONNACK or len(body) != 2:
            raise MQTTError("expected CONNACK")
        rc = body[1]
        if rc:
            why = _CONNACK_REASONS[rc] if rc < len(_CONNACK_REASONS) else str(rc)
            raise MQTTError("connection refused: " + why)
        if self.subs:
            sb = struct.pack("!H", self._next_pid())
            for topic, qos in self.subs:
                sb += _str(topic) + bytes([qos])
            await self._send(_packet(_SUBSCRIBE, sb))
        self.connects += 1
        self.up = True
        self._last_rx = ticks_ms()
        # Resend what the broker never acknowledged, first and in order, marked DUP.
        for e in self._inflight:
            await self._send_publish(e[1], e[2], 1, e[3], e[0], True)
            e[4] = ticks_ms()
        if self.on_up is not None:
            self.on_up()

    def _next_pid(self) -> int:
        self._pid = self._pid % 65535 + 1
        return self._pid

    async def _send_publish(
        self, topic: str, payload: bytes, qos: int, retain: bool, pid: int, dup: bool
    ) -> None:
        first = _PUBLISH | (0x08 if dup else 0) | (qos << 1) | (1 if retain else 0)
        body = _str(topic)
        if qos:
            body += struct.pack("!H", pid)
        await self._send(_packet(first, body + payload))

    async def _session(self) -> None:
        reader = asyncio.create_task(self._read_loop())
        try:
            await self._send_loop()
        finally:
            reader.cancel()

    async def _read_loop(self) -> None:
        try:
            while True:
                first, body = await self._read_packet()
                kind = first & 0xF0
                if kind == _PUBLISH:
                    qos = (first >> 1) & 3
                    tl = (body[0] << 8) | body[1]
                    topic = bytes(body[2 : 2 + tl]).decode()
                    i = 2 + tl
                    if qos:
                        pid = (body[i] << 8) | body[i + 1]
                        i += 2
                        await self._send(_packet(_PUBACK, struct.pack("!H", pid)))
                    if self.on_msg is not None:
                        try:
                            self.on_msg(topic, body[i:], bool(first & 1))
                        except Exception as e:
                            print("mqtt: handler error", repr(e))
                elif kind == _PUBACK and len(body) == 2:
                    pid = (body[0] << 8) | body[1]
                    for j in range(len(self._inflight)):
                        if self._inflight[j][0] == pid:
                            self._inflight.pop(j)
                            break
                    self._wake.set()
                elif kind == _SUBACK:
                    if 0x80 in body[2:]:
                        print("mqtt: subscription refused")
        except Exception as e:
            self.last_error = repr(e)
        self._dead = True
        self._wake.set()

    async def _send_loop(self) -> None:
        ka = self.keepalive * 1000
        while not self._dead:
            q = self._q
            while q and not self._dead and (q[0][2] == 0 or len(self._inflight) < self.INFLIGHT):
                topic, data, qos, retain, _ = q.pop(0)
                if not isinstance(data, (bytes, bytearray)):
                    try:
                        try:
                            data = self.prepare(data)
                        except MemoryError:
                            gc.collect()  # even while armed: a lost message is worse than a pause
                            data = self.prepare(data)
                    except Exception as e:
                        self.drops += 1
                        print("mqtt: cannot prepare", repr(e))
                        continue
                pid = 0
                if qos:
                    pid = self._next_pid()
                    self._inflight.append([pid, topic, data, retain, ticks_ms()])
                await self._send_publish(topic, data, qos, retain, pid, False)
            now = ticks_ms()
            if self._inflight and ticks_diff(now, self._inflight[0][4]) > self.ACK_TIMEOUT_MS:
                raise MQTTError("no PUBACK")
            if ticks_diff(now, self._last_rx) > ka + ka // 2:
                raise MQTTError("keepalive expired")
            if ticks_diff(now, self._last_tx) > ka // 2:
                await self._send(bytes([_PINGREQ, 0]))
            self._wake.clear()
            try:
                await asyncio.wait_for_ms(self._wake.wait(), 100)
            except asyncio.TimeoutError:
                pass
        raise MQTTError("link lost: " + self.last_error)

    async def disconnect(self) -> None:
        try:
            await self._send(bytes([_DISCONNECT, 0]))
        except Exception:
            pass
        self._close()

    def deinit(self) -> None:
        self._close()
