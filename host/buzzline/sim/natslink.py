"""A lean NATS client over TCP for simulated audience members: thousands in one process.

Only what a phone does: connect with a user, subscribe, publish (with headers), request and
wait for one reply, answer the server's PING, and move to another node when its node is gone.
Each connection is a non-blocking socket read by a selector callback (no task, stream or future
woken per chunk), so 2,000 of them cost little. Each read also takes the kernel's receive stamp
(``SO_TIMESTAMPNS``): when the bytes reached this phone's socket, apart from when a process
carrying hundreds of phones got round to reading them. The phone page uses the real nats.ws;
this is its twin for load.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import socket
import struct
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

OnMessage = Callable[[str, bytes], None]
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux; Python names it from 3.14 only
STAMP_SPACE = socket.CMSG_SPACE(16)
READ_SIZE = 65536


class LinkError(RuntimeError):
    pass


class NatsLink:
    """One connection that fails over across ``urls``; ``on_message(subject, payload)`` for subs."""

    RETRY_S = (0.05, 0.1, 0.2, 0.25)

    def __init__(
        self, urls: list[str], user: str, password: str, on_message: OnMessage, seed: int = 0
    ) -> None:
        self.urls = urls
        self.user = user
        self.password = password
        self.on_message = on_message
        self.rng = random.Random(seed)
        self.node = self.rng.randrange(len(urls))
        self.inbox = "_INBOX." + secrets.token_hex(8)
        self.subs: dict[int, str] = {}
        self._sid = itertools.count(2)
        self._replies: dict[str, asyncio.Future[bytes]] = {}
        self._token = itertools.count(1)
        self._sock: socket.socket | None = None
        self._out = bytearray()  # what the socket would not take yet
        self._buf = bytearray()
        self._gone: asyncio.Future[None] | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connects = 0
        self.read_us = 0  # the show clock when the chunk being handled was read by this process
        self.kernel_us = 0  # ...and when its last byte reached the socket (the kernel's stamp)
        self.down_since: float | None = None
        self.outages: list[float] = []  # seconds from losing a node to being subscribed on another
        self.errors: list[str] = []
        self.on_reconnect: Callable[[], None] | None = None

    async def start(self, timeout_s: float = 10.0) -> None:
        self._task = asyncio.create_task(self._run(), name="natslink")
        async with asyncio.timeout(timeout_s):
            await self._up.wait()

    @property
    def up(self) -> bool:
        return self._up.is_set()

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._sock is not None:
            self._sock.close()

    def subscribe(self, subject: str) -> None:
        sid = next(self._sid)
        self.subs[sid] = subject
        self._send(f"SUB {subject} {sid}\r\n".encode())

    def publish(
        self, subject: str, payload: bytes, reply: str = "", headers: dict[str, str] | None = None
    ) -> None:
        self._send(_pub(subject, payload, reply, headers))

    async def request(
        self, subject: str, payload: bytes, timeout_s: float = 2.0, headers: dict[str, str] | None = None
    ) -> bytes:
        """One reply, or LinkError (no responders, timeout, link down)."""
        if not self._up.is_set():
            raise LinkError("down")
        token = str(next(self._token))
        fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._replies[token] = fut
        try:
            self.publish(subject, payload, f"{self.inbox}.{token}", headers)
            async with asyncio.timeout(timeout_s):
                return await fut
        except TimeoutError:
            raise LinkError("timeout") from None
        finally:
            self._replies.pop(token, None)

    async def wait_up(self) -> None:
        await self._up.wait()

    def _send(self, data: bytes) -> None:
        sock = self._sock
        if sock is None or not self._up.is_set():
            raise LinkError("down")
        self._write(sock, data)

    def _write(self, sock: socket.socket, data: bytes) -> None:
        if self._out:  # earlier bytes wait for the socket: keep the order
            self._out += data
            return
        try:
            n = sock.send(data)
        except (BlockingIOError, InterruptedError):
            n = 0
        except OSError as e:
            self._fail(e)
            return
        if n < len(data):
            self._out += data[n:]
            asyncio.get_running_loop().add_writer(sock.fileno(), self._writable)

    def _writable(self) -> None:
        sock = self._sock
        if sock is None:
            return
        try:
            n = sock.send(self._out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e)
            return
        del self._out[:n]
        if not self._out:
            asyncio.get_running_loop().remove_writer(sock.fileno())

    def _fail(self, e: BaseException | None) -> None:
        if e is not None and not isinstance(e, ConnectionError):
            self.errors.append(str(e))
        if self._gone is not None and not self._gone.done():
            self._gone.set_result(None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closing:
            url = urlsplit(self.urls[self.node])
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            try:
                await loop.sock_connect(sock, (url.hostname or "127.0.0.1", url.port or 4222))
            except OSError:
                sock.close()
                attempt += 1
                self.node = (self.node + 1) % len(self.urls)
                await asyncio.sleep(
                    self.RETRY_S[min(attempt, len(self.RETRY_S) - 1)] * self.rng.uniform(0.8, 1)
                )
                continue
            watching = False
            try:
                await self._handshake(loop, sock)
                attempt = 0
                self._gone = loop.create_future()
                loop.add_reader(sock.fileno(), self._readable)
                watching = True
                if self._buf:  # what came after the PONG in the same read
                    del self._buf[: self._parse(self._buf)]
                await self._gone
            except (OSError, LinkError, ValueError) as e:
                if not isinstance(e, ConnectionError):
                    self.errors.append(str(e))
            finally:
                if watching:
                    loop.remove_reader(sock.fileno())
                loop.remove_writer(sock.fileno())
                self._lost()
                sock.close()
            self.node = (self.node + 1) % len(self.urls)

    async def _handshake(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self._buf.clear()
        self._out.clear()
        line = await self._line(loop, sock)
        if not line.startswith(b"INFO "):
            raise LinkError("no INFO from the server")
        hello = {
            "verbose": False,
            "pedantic": False,
            "user": self.user,
            "pass": self.password,
            "headers": True,
            "no_responders": True,
            "protocol": 1,
            "lang": "buzzline-sim",
            "version": "1",
        }
        subs = "".join(f"SUB {s} {sid}\r\n" for sid, s in self.subs.items())
        hi = f"CONNECT {json.dumps(hello)}\r\nSUB {self.inbox}.* 1\r\n{subs}PING\r\n"
        await loop.sock_sendall(sock, hi.encode())
        while True:
            line = await self._line(loop, sock)
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR"):
                raise LinkError(line.decode(errors="replace").strip())
        self._sock = sock
        self.connects += 1
        if self.down_since is not None:
            self.outages.append(time.monotonic() - self.down_since)
            self.down_since = None
        self._up.set()
        if self.connects > 1 and self.on_reconnect is not None:
            self.on_reconnect()

    async def _line(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> bytes:
        """One protocol line during the handshake (what follows it stays in the buffer)."""
        while (eol := self._buf.find(b"\r\n")) < 0:
            chunk = await loop.sock_recv(sock, READ_SIZE)
            if not chunk:
                raise LinkError("closed during connect")
            self._buf += chunk
        line = bytes(self._buf[:eol])
        del self._buf[: eol + 2]
        return line

    def _lost(self) -> None:
        if self._up.is_set():
            self.down_since = time.monotonic()
        self._up.clear()
        self._sock = None
        self._gone = None
        self._out.clear()
        self._buf.clear()
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(LinkError("down"))

    def _readable(self) -> None:
        """The selector's callback: one read, its kernel stamp, every whole message in it."""
        sock = self._sock
        if sock is None:
            return
        try:
            chunk, anc, _flags, _addr = sock.recvmsg(READ_SIZE, STAMP_SPACE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            self._fail(e)
            return
        if not chunk:
            self._fail(None)
            return
        mono = time.monotonic_ns()
        self.read_us = mono // 1000  # when this process got it from the kernel
        self.kernel_us = self.read_us
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= 16:
                sec, nsec = struct.unpack_from("qq", data)
                # the stamp is wall-clock: moved onto the monotonic clock through "now" on both
                stamp = sec * 1_000_000_000 + nsec - time.time_ns() + mono
                self.kernel_us = min(self.read_us, stamp // 1000)
        buf = self._buf
        buf += chunk
        pos = self._parse(buf)
        if pos:
            del buf[:pos]

    def _parse(self, buf: bytearray) -> int:
        """Handle every complete message in ``buf``; return how many bytes were used."""
        pos = 0
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return pos
            line = bytes(buf[pos:eol])
            if line.startswith(b"MSG ") or line.startswith(b"HMSG "):
                parts = line.split()
                total = int(parts[-1])
                hsize = int(parts[-2]) if parts[0] == b"HMSG" else 0
                end = eol + 2 + total
                if len(buf) < end + 2:
                    return pos  # the payload is not all here yet
                data = bytes(buf[eol + 2 : end])
                self._deliver(parts[1].decode(), data[hsize:], data[:hsize])
                pos = end + 2
                continue
            if line.startswith(b"PING"):
                if self._sock is not None:
                    self._write(self._sock, b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                self.errors.append(line.decode(errors="replace").strip())
            pos = eol + 2

    def _deliver(self, subject: str, data: bytes, headers: bytes) -> None:
        if subject.startswith(self.inbox):
            fut = self._replies.get(subject.rsplit(".", 1)[-1])
            if fut is not None and not fut.done():
                if headers.startswith(b"NATS/1.0 503"):
                    fut.set_exception(LinkError("no responders"))
                else:
                    fut.set_result(data)
            return
        self.on_message(subject, data)


def _pub(subject: str, payload: bytes, reply: str, headers: dict[str, str] | None) -> bytes:
    r = f" {reply}" if reply else ""
    if not headers:
        return f"PUB {subject}{r} {len(payload)}\r\n".encode() + payload + b"\r\n"
    head = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
    total = len(head) + len(payload)
    return f"HPUB {subject}{r} {len(head)} {total}\r\n".encode() + head + payload + b"\r\n"


def loads(data: bytes) -> Any:
    return json.loads(data)
