"""The lifetime every long-running part shares: ``start()``, ``stop()``, and ``async with``; and
``keep``, which runs one part of a service, restarts it when it dies and gives up loudly."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
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


async def wait_or_kill(proc: asyncio.subprocess.Process, timeout_s: float) -> None:
    """Wait for a child process that was asked to end; kill it if it has not within the time."""
    try:
        async with asyncio.timeout(timeout_s):
            await proc.wait()
    except TimeoutError:
        proc.kill()
        await proc.wait()


class Reconnect:
    """When to try a lost connection again: ``delay()`` before each try of one outage.

    The first tries come quickly (``STEPS_S``, then every ``STEPS_S[-1]`` until the outage is
    ``FAST_FOR_S`` old: a broker restart is usually back within a second or two, and a show is
    waiting), then every ``SLOW_S``. Each delay is jittered down by up to 20%, so a studio of
    clients does not arrive at a restarted broker in one burst. The host and the virtual podiums
    share it; the firmware's is alike (``podium/mqtt.py``: 100 and 200 ms, then every 250 ms for
    10 s, then doubling to 4 s).
    """

    STEPS_S = (0.05, 0.1, 0.2, 0.25)
    FAST_FOR_S = 10.0
    SLOW_S = 1.0

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.tries = 0
        self._down_at = 0.0

    def connected(self) -> None:
        self.tries = 0

    def delay(self) -> float:
        """Seconds to wait before the next try; counts the try."""
        now = time.monotonic()
        if self.tries == 0:
            self._down_at = now
        if now - self._down_at < self.FAST_FOR_S:
            base = self.STEPS_S[min(self.tries, len(self.STEPS_S) - 1)]
        else:
            base = self.SLOW_S
        self.tries += 1
        return base * self._rng.uniform(0.8, 1.0)


class PartFailed(RuntimeError):
    """A supervised part died and may not come back: the service stops with this reason."""


@dataclass
class Part:
    """One supervised part of a service (the web server, the terminal printer...), as reported."""

    name: str
    restart: bool = True
    restarts: int = 0
    last_error: str = ""
    closing: bool = False  # its owner is ending it: an end now is no death
    task: asyncio.Task[None] | None = None
    _deaths: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class RestartPolicy:
    """How often a part may die: at most ``limit`` times within ``window_s`` (else the service
    stops), each restart after the next of ``backoff_s`` (the last repeats)."""

    limit: int = 5
    window_s: float = 60.0
    backoff_s: tuple[float, ...] = (0.1, 0.5, 2.0)


async def keep(part: Part, run: Callable[[], Awaitable[None]], policy: RestartPolicy) -> None:
    """Run ``run()`` until the part is closed or cancelled. A part that raises, or returns while
    not closing, has died: logged with the reason and restarted, unless it may not come back
    (``restart=False``, or more deaths in the window than the policy allows): then
    ``PartFailed`` ends this task, and with it the service's TaskGroup."""
    while True:
        try:
            await run()
            reason = "it ended by itself"
        except asyncio.CancelledError:
            raise
        except Exception as e:
            reason = f"{type(e).__name__}: {e}"
            log.error("%s died: %s", part.name, reason, exc_info=e)
        if part.closing:
            return
        part.last_error = reason
        now = time.monotonic()
        part._deaths = [t for t in part._deaths if now - t < policy.window_s] + [now]
        if not part.restart:
            raise PartFailed(f"{part.name} died: {reason}")
        if len(part._deaths) > policy.limit:
            raise PartFailed(f"{part.name} died {len(part._deaths)} times in {policy.window_s:g} s: {reason}")
        delay = policy.backoff_s[min(len(part._deaths), len(policy.backoff_s)) - 1]
        log.error("%s died (%s): restarting in %g s", part.name, reason, delay)
        await asyncio.sleep(delay)
        part.restarts += 1
