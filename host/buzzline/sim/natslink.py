"""A lean NATS client over TCP for simulated audience members: thousands in one process.

Only what a phone does: connect with a user, subscribe, publish (with headers), request and
wait for one reply, answer the server's PING, and move to another node when its node is gone.
One reader task a connection and no others, so 2,000 of them cost little (nats-py keeps several
tasks and buffers a connection). The phone page uses the real nats.ws; this is its twin for load.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import secrets
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

OnMessage = Callable[[str, bytes], None]


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
        self._writer: asyncio.StreamWriter | None = None
        self._up = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connects = 0
        self.read_us = 0  # the show clock when the chunk being handled was read
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
        if self._writer is not None:
            self._writer.close()

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
        w = self._writer
        if w is None or not self._up.is_set():
            raise LinkError("down")
        w.write(data)

    async def _run(self) -> None:
        attempt = 0
        while not self._closing:
            url = urlsplit(self.urls[self.node])
            try:
                reader, writer = await asyncio.open_connection(url.hostname, url.port)
            except OSError:
                attempt += 1
                self.node = (self.node + 1) % len(self.urls)
                await asyncio.sleep(
                    self.RETRY_S[min(attempt, len(self.RETRY_S) - 1)] * self.rng.uniform(0.8, 1)
                )
                continue
            try:
                await self._handshake(reader, writer)
                attempt = 0
                await self._read(reader)
            except (OSError, asyncio.IncompleteReadError, LinkError, ValueError) as e:
                if not isinstance(e, asyncio.IncompleteReadError | ConnectionError):
                    self.errors.append(str(e))
            finally:
                self._lost()
                writer.close()
            self.node = (self.node + 1) % len(self.urls)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readline()
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
        writer.write(f"CONNECT {json.dumps(hello)}\r\nSUB {self.inbox}.* 1\r\n{subs}PING\r\n".encode())
        while True:
            line = await reader.readline()
            if not line:
                raise LinkError("closed during connect")
            if line.startswith(b"PONG"):
                break
            if line.startswith(b"-ERR"):
                raise LinkError(line.decode(errors="replace").strip())
        self._writer = writer
        self.connects += 1
        if self.down_since is not None:
            self.outages.append(time.monotonic() - self.down_since)
            self.down_since = None
        self._up.set()
        if self.connects > 1 and self.on_reconnect is not None:
            self.on_reconnect()

    def _lost(self) -> None:
        if self._up.is_set():
            self.down_since = time.monotonic()
        self._up.clear()
        self._writer = None
        for fut in self._replies.values():
            if not fut.done():
                fut.set_exception(LinkError("down"))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        # whole chunks parsed in place: one wake-up per chunk, not two per message
        buf = bytearray()
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                raise asyncio.IncompleteReadError(b"", None)
            self.read_us = time.monotonic_ns() // 1000  # when this process got it from the kernel
            buf += chunk
            pos = self._parse(buf)
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
                if self._writer is not None:
                    self._writer.write(b"PONG\r\n")
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
