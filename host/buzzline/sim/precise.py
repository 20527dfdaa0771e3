"""Wake a coroutine at a given ``time.monotonic()`` instant to within about 0.1 ms.

asyncio's timers wait in ``epoll``, whose timeout is whole milliseconds: every ``asyncio.sleep``
ends up to 1 ms late (0.68 ms at the median, measured in ``bench fairness-live``'s relays). That
is noise a simulated network must not add: on the ``lan`` profile a one-way delay is 0.6 ms. A
``PreciseTimer`` keeps the due instants in a heap in one thread of its own, which waits on a
condition variable (nanosecond timeouts) and hands each due waiter back to the event loop with
``call_soon_threadsafe``; the loop wakes on its self-pipe at once. Where even that wake-up is
too slow (a busy loop runs other callbacks first), ``call_at`` runs a small function in the
timer's own thread at the instant (the delay relay writes its sockets from there).

Only for the simulators and benchmarks: the host and firmware take no timing from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable


class PreciseTimer:
    """``timer = PreciseTimer(loop)``; ``await timer.sleep_until(t)``; ``timer.close()`` when done."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop or asyncio.get_running_loop()
        self._heap: list[tuple[float, int, Callable[[], None]]] = []
        self._count = itertools.count()
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="precise-timer", daemon=True)
        self._thread.start()

    async def sleep_until(self, t: float) -> None:
        """Return at ``time.monotonic() >= t`` (at once if that has passed)."""
        if t <= time.monotonic():
            return
        fut: asyncio.Future[None] = self._loop.create_future()
        loop = self._loop

        def wake() -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed
                loop.call_soon_threadsafe(resolve, fut)

        self.call_at(t, wake)
        await fut

    def call_at(self, t: float, fn: Callable[[], None]) -> None:
        """Run ``fn`` in the timer's thread at ``time.monotonic() >= t``; calls due at the same
        instant run in the order they were made. ``fn`` must be quick and must not raise."""
        with self._cv:
            if self._closed:
                raise RuntimeError("PreciseTimer is closed")
            heapq.heappush(self._heap, (t, next(self._count), fn))
            self._cv.notify()

    def close(self) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout=1)

    def _run(self) -> None:
        while True:
            with self._cv:
                while not self._closed:
                    now = time.monotonic()
                    if self._heap and self._heap[0][0] <= now:
                        break
                    self._cv.wait(self._heap[0][0] - now if self._heap else None)
                if self._closed:
                    return
                due = []
                now = time.monotonic()
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            for fn in due:
                fn()


def resolve(fut: asyncio.Future[None]) -> None:
    """Complete a future from ``call_soon_threadsafe``, unless it is done (a cancelled waiter)."""
    if not fut.done():
        fut.set_result(None)
