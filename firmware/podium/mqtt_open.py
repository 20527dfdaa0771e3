# Opening an MQTT session for podium.mqtt: the socket (non-blocking, with a deadline), CONNECT
# with the will and credentials, CONNACK, SUBSCRIBE, the birth message (the podium's presence,
# right behind the SUBSCRIBE). podium.mqtt loads it for each (re)connect
# and drops it after (podium.drop), so a podium between outages does not carry this code.
# It works on the client's own state (c._sock, c._chunk, its parser): part of podium.mqtt.
import asyncio
import select
import socket
import struct
from time import ticks_diff, ticks_ms

from micropython import const

from podium.mqtt import MQTTError

_CONNECT = const(0x10)
_PUBLISH = const(0x30)
_SUBSCRIBE = const(0x82)
_EINPROGRESS = const(115)  # a non-blocking connect under way (errno; lwIP uses the same number)
_CONNACK_REASONS = (
    "",
    "bad protocol",
    "id rejected",
    "server unavailable",
    "bad credentials",
    "not authorised",
)


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


async def _open(c, host: str, port: int) -> socket.socket:
    """Connect a non-blocking socket, waiting at most CONNECT_TIMEOUT_MS."""
    ai = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0]  # blocking, as asyncio's is
    s = socket.socket(ai[0], ai[1], ai[2])
    c._sock = s
    s.setblocking(False)
    try:
        s.connect(ai[-1])
    except OSError as e:
        if e.errno != _EINPROGRESS:
            raise
    # Writable: connected, or refused (the first read or write says which).
    poll = select.poll()
    poll.register(s, select.POLLOUT)
    t0 = ticks_ms()
    while not poll.poll(0):
        if ticks_diff(ticks_ms(), t0) > c.CONNECT_TIMEOUT_MS:
            raise MQTTError("connect timed out")
        await asyncio.sleep_ms(5)
    return s


async def _until_connack(c) -> None:
    # Polled (a connect is rare): the deadline needs no timer task.
    s = c._sock
    if s is None:
        raise MQTTError("not connected")
    t0 = ticks_ms()
    while c._connack < 0:
        n = s.readinto(c._chunk)
        if n is None:
            if ticks_diff(ticks_ms(), t0) > c.CONNECT_TIMEOUT_MS:
                raise MQTTError("no CONNACK")
            await asyncio.sleep_ms(2)
            continue
        if not n:
            raise MQTTError("connection closed")
        c._feed(n)


async def open_session(c) -> None:
    """Connect, log in and subscribe; raises MQTTError (or OSError) when it cannot."""
    s = await _open(c, c._addr[0], c._addr[1])
    try:
        # IPPROTO_TCP, TCP_NODELAY: a buzz must not wait behind Nagle's algorithm for the
        # broker to acknowledge the previous segment (numbers: not every port names them).
        s.setsockopt(6, 1, 1)
    except Exception:
        pass
    flags = 0x02  # clean session: our own queue carries unacknowledged messages
    client_id, user, password = c._login
    payload = _str(client_id)
    if c.will is not None:
        topic, msg, qos, retain = c.will
        flags |= 0x04 | (qos << 3) | (0x20 if retain else 0)
        payload += _str(topic) + _str(msg)
    if user:
        flags |= 0x80
        payload += _str(user)
        if password:
            flags |= 0x40
            payload += _str(password)
    body = _str("MQTT") + bytes([4, flags]) + struct.pack("!H", c.keepalive) + payload
    await c._send(_packet(_CONNECT, body))
    c._reset_parser()
    await _until_connack(c)
    rc = c._connack
    if rc:
        why = _CONNACK_REASONS[rc] if rc < len(_CONNACK_REASONS) else str(rc)
        raise MQTTError("connection refused: " + why)
    if c.subs:
        sb = struct.pack("!H", c._next_pid())
        for topic, qos in c.subs:
            sb += _str(topic) + bytes([qos])
        await c._send(_packet(_SUBSCRIBE, sb))
    if c.birth is not None:
        # untracked QoS 1: a PUBACK for this id matches nothing in flight and is ignored
        topic, msg, retain = c.birth
        body = _str(topic) + struct.pack("!H", c._next_pid()) + msg
        await c._send(_packet(_PUBLISH | 0x02 | (1 if retain else 0), body))
