"""The notice bus: one outgoing stream from the host, one bounded queue per subscriber.

``publish`` is synchronous and never waits: the decision path calls it after each durable batch
of effects. Each subscriber (an adapter, the console's WebSocket, the overlay, the metrics
collector, the wire's ``game/events`` publisher) reads its own queue at its own pace. A queue
that is full drops its oldest notice and counts the drop; the newest notice, which carries the
latest view, is always kept, so a slow reader loses history but never the present.

``Notice`` (what flows) and ``CommandResult`` (what a command answers) live here, below every
reader: the adapter API re-exports them, the host service, the web app and the bridge import them
from here.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

from buzzline.core.contract import GameView, podium_view

DEFAULT_DEPTH = 256


@dataclass(frozen=True, slots=True)
class Notice:
    """One batch of effects after it is durable, with the view that resulted."""

    seq: int
    host_us: int
    events: tuple[Mapping[str, Any], ...]  # SPEC §3.9; their kinds: core.contract.EVENT_FIELDS
    view: GameView

    def of(self, kind: str) -> list[Mapping[str, Any]]:
        """The events of one kind, in order."""
        return [e for e in self.events if e.get("k") == kind]

    def seat(self, podium: str) -> int | None:
        """The podium's 1-based seat in the show, from the view."""
        seat = podium_view(self.view, podium).get("seat")
        return seat if isinstance(seat, int) else None


@dataclass(frozen=True, slots=True)
class CommandResult:
    ok: bool
    reason: str = ""  # why the host refused, when not ok


class Subscription:
    """One reader's queue. Iterate it (``async for notice in sub``) or ``await sub.get()``."""

    def __init__(self, name: str, maxsize: int = DEFAULT_DEPTH) -> None:
        if maxsize < 1:
            raise ValueError("a subscription holds at least one notice")
        self.name = name
        self.maxsize = maxsize
        self.dropped = 0
        self.delivered = 0
        self._q: collections.deque[Notice] = collections.deque()
        self._ready = asyncio.Event()
        self._closed = False

    @property
    def depth(self) -> int:
        return len(self._q)

    def put(self, notice: Notice) -> None:
        if self._closed:
            return
        if len(self._q) >= self.maxsize:
            self._q.popleft()
            self.dropped += 1
        self._q.append(notice)
        self._ready.set()

    def get_nowait(self) -> Notice | None:
        if not self._q:
            return None
        self.delivered += 1
        return self._q.popleft()

    async def get(self) -> Notice:
        """The next notice; raises ``StopAsyncIteration`` once closed and drained."""
        while not self._q:
            if self._closed:
                raise StopAsyncIteration
            self._ready.clear()
            await self._ready.wait()
        self.delivered += 1
        return self._q.popleft()

    def close(self) -> None:
        self._closed = True
        self._ready.set()

    def __aiter__(self) -> AsyncIterator[Notice]:
        return self

    async def __anext__(self) -> Notice:
        return await self.get()


class NoticeBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self.seq = 0
        self.latest: Notice | None = None

    def subscribe(self, name: str, maxsize: int = DEFAULT_DEPTH, replay_latest: bool = True) -> Subscription:
        """A new reader. With ``replay_latest`` its first notice is the latest one published
        (so it starts from the current view)."""
        sub = Subscription(name, maxsize)
        if replay_latest and self.latest is not None:
            sub.put(self.latest)
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.close()
        if sub in self._subs:
            self._subs.remove(sub)

    @property
    def subscribers(self) -> list[Subscription]:
        return list(self._subs)

    def publish(self, notice: Notice) -> None:
        self.latest = notice
        self.seq = max(self.seq, notice.seq)
        for sub in self._subs:
            sub.put(notice)

    def close(self) -> None:
        for sub in self._subs:
            sub.close()
        self._subs.clear()
