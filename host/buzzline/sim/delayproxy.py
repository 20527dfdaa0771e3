"""An application-level TCP relay that gives one podium's link a profile's delays.

Each podium connects to its own relay, which connects on to the broker. Every chunk read from
either side is held for a delay drawn for that direction (``NetPath.delay_us``: floor, body,
tail, congestion burst, retransmission after a loss) and written on in order, never before the
previous chunk (TCP keeps order: head-of-line blocking). Bytes are never dropped (that would
break MQTT): a loss shows as its retransmission delay, also for QoS 0 sync messages. With
TCP_NODELAY on both ends a chunk is usually one MQTT packet. Chunks are released by a
``PreciseTimer`` (within ~0.1 ms of their instant): asyncio's own timers would add up to 1 ms
to every hop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import socket
import time
from collections.abc import Callable

from buzzline.io.mqttclient import send_all
from buzzline.lifecycle import cancel_and_wait
from buzzline.sim.precise import PreciseTimer, resolve

Delay = Callable[[], int]  # µs for the next chunk


def _nodelay(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class DelayProxy:
    """``async with DelayProxy(host, port, up, down) as proxy``: podiums connect to ``proxy.port``."""

    def __init__(
        self, target_host: str, target_port: int, up: Delay, down: Delay, timer: PreciseTimer | None = None
    ) -> None:
        self.target = (target_host, target_port)
        self._timer = timer
        self._own_timer = timer is None
        self.up = up
        self.down = down
        self.port = 0
        self.chunks = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> DelayProxy:
        if self._timer is None:
            self._timer = PreciseTimer()
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.close()
        await cancel_and_wait(list(self._tasks))
        self._tasks.clear()
        if self._own_timer and self._timer is not None:
            self._timer.close()
            self._timer = None

    async def _accept(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection(*self.target)
        except OSError:
            c_writer.close()
            return
        _nodelay(c_writer)
        _nodelay(b_writer)
        pumps = [
            asyncio.create_task(self._pump(c_reader, b_writer, self.up)),
            asyncio.create_task(self._pump(b_reader, c_writer, self.down)),
        ]
        self._tasks.update(pumps)
        try:
            await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait(pumps)
            self._tasks.difference_update(pumps)
            for w in (b_writer, c_writer):
                w.close()

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
        """Read chunks as they come; the timer's thread writes each at its instant, in order (the
        due instants never decrease, and equal ones keep their order), straight to a duplicate of
        the socket: the event loop's wake-up would add its own lateness."""
        timer = self._timer
        assert timer is not None
        loop = asyncio.get_running_loop()
        sock = socket.socket(fileno=os.dup(writer.get_extra_info("socket").fileno()))
        sock.settimeout(0.0)
        ended: asyncio.Future[None] = loop.create_future()

        def end() -> None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)  # the other side closed: forward the end, in order
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(resolve, ended)

        last = 0.0
        try:
            while data := await reader.read(65536):
                self.chunks += 1
                due = max(time.monotonic() + delay() / 1e6, last)
                last = due
                timer.call_at(due, functools.partial(send_all, sock, data))
            timer.call_at(last, end)
            await ended
        finally:
            sock.close()
