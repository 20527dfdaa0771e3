"""A TCP proxy that misbehaves like a bad studio network, one link (one podium) per proxy.

Between a client and the broker it forwards bytes both ways, in order, with the faults of its
``LinkFaults`` (changeable while it runs):

- ``delay_ms`` and ``jitter_ms``: every chunk waits the delay plus a uniform share of the jitter;
  order is kept (a chunk never overtakes the one before it, as in TCP).
- ``drop``: the chance a chunk is lost on the wire. TCP resends it after its retransmission
  timeout, so the stream stalls ``rto_ms`` behind it: loss on a TCP link is latency.
- ``hold_every_s`` and ``hold_max_ms``: deaf spells of the client's radio, starting at random
  (on average one every ``hold_every_s``, whatever the traffic) and lasting up to
  ``hold_max_ms``. A client-to-broker chunk sent during one is held until it ends, and
  everything behind it waits too. Spells are a process in time, not a chance per message: a
  radio that goes deaf does not go deaf more often because the podium sends more.
- ``blackhole()``: for a while nothing moves either way and new connections hang, until the
  endpoints' keepalives give up on them.
- ``reset()``: every open connection is torn down at once with a TCP RST.

No netem on this machine, and no root needed: loopback only. Counters say what was applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass
class LinkFaults:
    delay_ms: float = 0.0
    jitter_ms: float = 0.0
    drop: float = 0.0
    rto_ms: float = 200.0
    hold_every_s: float = 0.0  # 0: no deaf spells
    hold_max_ms: float = 2000.0
    blackhole_until: float = 0.0  # time.monotonic() until which nothing moves

    def blackholed(self) -> bool:
        return time.monotonic() < self.blackhole_until


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a RST, not a FIN: the peer sees the connection reset, as on a dead link."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``await FaultProxy(target_host, target_port, faults).start()`` listens on ``port``."""

    CHUNK = 65536

    def __init__(
        self,
        target_host: str,
        target_port: int,
        faults: LinkFaults | None = None,
        rng: random.Random | None = None,
        name: str = "link",
    ) -> None:
        self.target = (target_host, target_port)
        self.faults = faults or LinkFaults()
        self.rng = rng or random.Random(0)
        self.name = name
        self.port = 0
        self.counts: Counter[str] = Counter()
        self._server: asyncio.Server | None = None
        self._conns: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._spell: tuple[float, float] | None = None  # (start, end), time.monotonic()

    def _deaf_until(self, now: float) -> float:
        """The end of the deaf spell under way at ``now``, or 0. The spells are drawn on the
        link's own timeline (exponential gaps, uniform lengths), whoever sends."""
        f = self.faults
        if not f.hold_every_s:
            return 0.0
        if self._spell is None:
            self._spell = self._next_spell(now)
        while self._spell[1] <= now:
            self._spell = self._next_spell(self._spell[1])
        start, end = self._spell
        return end if start <= now else 0.0

    def _next_spell(self, after: float) -> tuple[float, float]:
        f = self.faults
        start = after + self.rng.expovariate(1.0 / f.hold_every_s)
        end = start + self.rng.uniform(0.0, f.hold_max_ms) / 1000
        if end > start:
            self.counts["deaf_spells"] += 1
        return start, end

    async def start(self) -> int:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.reset()  # each connection's handler then ends by itself (cancelling it would be logged)
        if self._conns:
            await asyncio.wait(set(self._conns), timeout=5)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    def reset(self) -> None:
        """Tear every open connection down with a RST."""
        if self._writers:
            self.counts["resets"] += 1
        for w in list(self._writers):
            _abort(w)
        self._writers.clear()

    def blackhole(self, seconds: float) -> None:
        self.counts["blackholes"] += 1
        self.faults.blackhole_until = max(self.faults.blackhole_until, time.monotonic() + seconds)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            while self.faults.blackholed():  # a SYN into the void: the client's timeout decides
                await asyncio.sleep(0.05)
            up_reader, up_writer = await asyncio.open_connection(*self.target)
            self._writers.add(up_writer)
            for w in (writer, up_writer):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.counts["connections"] += 1
            pipes = {
                asyncio.create_task(self._pipe(reader, up_writer, upstream=True)),
                asyncio.create_task(self._pipe(up_reader, writer, upstream=False)),
            }
            try:
                # one end closing ends the connection: the other end gets a FIN
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for t in pipes:
                    t.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        except OSError:
            pass
        finally:
            for end in (writer, up_writer):
                if end is not None:
                    self._writers.discard(end)
                    with contextlib.suppress(Exception):
                        end.close()
            self._conns.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, upstream: bool) -> None:
        """Read chunks as they come and release each at its time, in order, until the reader ends
        (what was read by then still goes out)."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        last = 0.0

        async def release() -> None:
            while True:
                item = await queue.get()
                if item is None:
                    return
                at, data = item
                while True:
                    wait = at - time.monotonic()
                    if self.faults.blackholed():
                        wait = max(wait, self.faults.blackhole_until - time.monotonic())
                    if wait <= 0:
                        break
                    await asyncio.sleep(wait)
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(release())
        try:
            while not sender.done():
                data = await reader.read(self.CHUNK)
                if not data:
                    break
                f = self.faults
                extra_ms = f.delay_ms + self.rng.uniform(0.0, f.jitter_ms)
                if f.drop and self.rng.random() < f.drop:
                    self.counts["dropped"] += 1
                    extra_ms += f.rto_ms
                now = time.monotonic()
                due = now + extra_ms / 1000
                if upstream:
                    deaf = self._deaf_until(now)
                    if deaf:
                        self.counts["held"] += 1
                        due = max(due, deaf + extra_ms / 1000)
                last = max(last, due)
                self.counts["chunks"] += 1
                queue.put_nowait((last, data))
            queue.put_nowait(None)  # the reader ended: what it read still goes out
            await sender
        finally:
            sender.cancel()
