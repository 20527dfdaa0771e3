"""The lifetime every long-running part shares: ``start()``, ``stop()``, and ``async with``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Self

log = logging.getLogger(__name__)


class Service:
    """Subclasses implement ``start`` and ``stop``; ``async with`` runs them around a block."""

    async def start(self) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]], retry_s: float = 0.1) -> None:
    """Cancel tasks and wait until every one has ended, whatever it raised.

    A single ``cancel()`` is not enough: on Python 3.11 ``asyncio.wait_for`` (aiomqtt awaits
    every QoS 1 publish through it) drops a cancellation that lands as its inner future
    completes, and the task runs on. So the cancel is repeated until the task is done.
    """
    pending = {t for t in tasks if not t.done()}
    rounds = 0
    while pending:
        for t in pending:
            t.cancel()
        _, pending = await asyncio.wait(pending, timeout=retry_s)
        rounds += 1
        if pending and rounds % 50 == 0:
            log.warning("still waiting for %s to end", ", ".join(t.get_name() for t in pending))
    for t in tasks:
        if t.done() and not t.cancelled():
            with contextlib.suppress(Exception):
                t.result()  # retrieved, so asyncio does not log it as never retrieved
