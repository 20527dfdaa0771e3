"""Run adapter instances: discovery, lifecycle, isolation, hot plug.

The same ``AdapterManager`` runs adapters inside the host (fed by the host's notice bus, commands
straight into the engine) and standalone (``buzzline adapter run``: fed from ``game/state`` and
``game/events``, commands over the operator HTTP API). Each instance gets its own bounded
subscription and its own supervising task: a failure marks it ``error`` with the reason and
restarts it after a jittered, capped backoff, while other adapters and decisions go on. A loop
watchdog logs any adapter that holds the event loop for more than ``STALL_MS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

from buzzline.adapters.api import (
    Adapter,
    AdapterInfo,
    CommandResult,
    ConfigError,
    GameView,
    Notice,
    Status,
    did_you_mean,
    validate_config,
)
from buzzline.notices import DEFAULT_DEPTH, NoticeBus, Subscription

log = logging.getLogger("buzzline.adapters")

GROUP = "buzzline.adapters"
CommandFn = Callable[..., Awaitable[CommandResult]]
SpawnFn = Callable[[Coroutine[Any, Any, None], str], "asyncio.Task[None]"]


class AdapterError(Exception):
    """An operator's request about adapters that cannot be carried out (unknown kind, name...)."""


def discover() -> dict[str, tuple[metadata.EntryPoint, str]]:
    """Every installed kind: name -> (entry point, distribution name)."""
    found: dict[str, tuple[metadata.EntryPoint, str]] = {}
    for ep in metadata.entry_points(group=GROUP):
        dist = ep.dist.name if ep.dist is not None else "?"
        found.setdefault(ep.name, (ep, dist))
    return found


def load_kind(kind: str) -> type[Adapter]:
    kinds = discover()
    if kind not in kinds:
        known = ", ".join(sorted(kinds)) or "none installed"
        raise AdapterError(
            f"unknown adapter kind {kind!r}{did_you_mean(kind, sorted(kinds))} (installed: {known})"
        )
    ep, dist = kinds[kind]
    try:
        cls = ep.load()
    except Exception as e:  # a broken third-party package must not take the host down
        raise AdapterError(f"adapter kind {kind!r} from {dist} failed to load: {e}") from e
    if not (isinstance(cls, type) and issubclass(cls, Adapter)):
        raise AdapterError(f"entry point {kind!r} from {dist} is not an Adapter class")
    return cls


def kind_infos() -> list[AdapterInfo]:
    out = []
    for kind, (_, dist) in sorted(discover().items()):
        try:
            cls = load_kind(kind)
        except AdapterError as e:
            out.append(AdapterInfo(kind, f"(broken: {e})", dist))
            continue
        out.append(AdapterInfo(kind, cls.TITLE or cls.__doc__ or kind, dist, tuple(cls.CONFIG_SCHEMA)))
    return out


@dataclass
class Instance:
    name: str
    kind: str
    cls: type[Adapter]
    raw: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    status: Status = Status.CONNECTING
    message: str = ""
    restarts: int = 0
    sub: Subscription | None = None
    task: asyncio.Task[None] | None = None
    adapter: Adapter | None = None
    holding_since: float | None = None  # monotonic time it took the notice it is handling
    last_hold: tuple[float, float] = (0.0, 0.0)
    stalls: int = 0
    enabled: bool = True

    def snapshot(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "status": str(self.status),
            "message": self.message,
            "config": self.config,
            "queue": self.sub.depth if self.sub else 0,
            "drops": self.sub.dropped if self.sub else 0,
            "delivered": self.sub.delivered if self.sub else 0,
            "restarts": self.restarts,
            "stalls": self.stalls,
            "enabled": self.enabled,
        }


class _Context:
    def __init__(self, inst: Instance, manager: AdapterManager) -> None:
        self._inst = inst
        self._manager = manager
        self.name = inst.name
        self.kind = inst.kind
        self.log = logging.getLogger(f"buzzline.adapter.{inst.name}")

    async def _iter(self) -> AsyncIterator[Notice]:
        inst = self._inst
        sub = inst.sub
        if sub is None:
            return
        while True:
            if inst.holding_since is not None:
                inst.last_hold = (inst.holding_since, time.monotonic())
                inst.holding_since = None
            try:
                notice = await sub.get()
            except StopAsyncIteration:
                return
            inst.holding_since = time.monotonic()
            yield notice

    def notices(self) -> AsyncIterator[Notice]:
        return self._iter()

    def view(self) -> GameView:
        return self._manager.view()

    async def command(self, name: str, /, **args: Any) -> CommandResult:
        return await self._manager.command(name, **args)

    def set_status(self, status: Status, message: str = "") -> None:
        inst = self._inst
        if (inst.status, inst.message) != (status, message):
            self.log.info("status %s%s", status, f": {message}" if message else "")
        inst.status, inst.message = Status(status), message


class AdapterManager:
    """Adapter instances by name. ``kinds`` overrides entry-point discovery (tests only)."""

    BACKOFF_MIN_S = 0.5
    BACKOFF_MAX_S = 30.0
    HEALTHY_S = 10.0  # running this long resets the backoff
    STALL_MS = 50.0
    QUEUE_DEPTH = DEFAULT_DEPTH

    def __init__(
        self,
        bus: NoticeBus,
        view: Callable[[], GameView],
        command: CommandFn,
        kinds: Mapping[str, type[Adapter]] | None = None,
        spawn: SpawnFn | None = None,
    ) -> None:
        self.bus = bus
        # where the supervisors run: the host's TaskGroup (a bug in one stops the host with its
        # reason), or free tasks for a manager of its own
        self._spawn: SpawnFn = spawn or (lambda coro, name: asyncio.create_task(coro, name=name))
        self.view = view
        self.command = command
        self._kinds = dict(kinds) if kinds is not None else None
        self.instances: dict[str, Instance] = {}
        self._watchdog: asyncio.Task[None] | None = None

    def _cls(self, kind: str) -> type[Adapter]:
        if self._kinds is not None and kind in self._kinds:
            return self._kinds[kind]
        return load_kind(kind)

    def check(self, kind: str, raw: Mapping[str, Any]) -> dict[str, Any]:
        """Settings for a kind, validated (``ConfigError``), or ``AdapterError`` for an unknown kind."""
        return validate_config(self._cls(kind).CONFIG_SCHEMA, raw)

    # ---- hot plug --------------------------------------------------------------------------------
    async def add(self, name: str, kind: str, raw: Mapping[str, Any] | None = None) -> Instance:
        """Add and start an instance. A bad setting leaves it listed as ``bad_config``."""
        if not isinstance(name, str) or not name or len(name) > 64:
            raise AdapterError("an adapter needs a name of 1 to 64 characters")
        if name in self.instances:
            raise AdapterError(f"an adapter named {name!r} already exists")
        inst = Instance(name, kind, self._cls(kind), dict(raw or {}))
        if self._watchdog is None:  # first, so it is watching before the adapter first runs
            self._watchdog = self._spawn(self._watch_loop(), "adapter-watchdog")
        self.instances[name] = inst
        self._launch(inst)
        return inst

    async def remove(self, name: str) -> None:
        inst = self._get(name)
        await self._halt(inst)
        del self.instances[name]

    async def reconfigure(self, name: str, raw: Mapping[str, Any]) -> Instance:
        inst = self._get(name)
        try:
            config = validate_config(inst.cls.CONFIG_SCHEMA, raw)
        except ConfigError as e:
            raise AdapterError(f"{name}: {e}") from e
        inst.raw = dict(raw)
        if not inst.enabled:
            inst.config = config
            return inst
        running = inst.task is not None and not inst.task.done() and inst.adapter is not None
        if running and inst.status is Status.OK and inst.adapter is not None:
            inst.config = config
            try:
                await inst.adapter.reconfigure(config)
                return inst
            except Exception as e:
                log.exception("adapter %s failed to reconfigure", name)
                inst.status, inst.message = Status.ERROR, f"reconfigure failed: {e}"
        await self._halt(inst)
        self._launch(inst)
        return inst

    async def set_enabled(self, name: str, enabled: bool) -> Instance:
        """Stop an instance but keep it listed with its settings (disabled), or start it again."""
        inst = self._get(name)
        if enabled and not inst.enabled:
            inst.enabled = True
            self._launch(inst)
        elif not enabled and inst.enabled:
            await self._halt(inst)
            inst.enabled = False
            inst.message = "disabled"
        return inst

    def _get(self, name: str) -> Instance:
        if name not in self.instances:
            raise AdapterError(f"no adapter named {name!r}")
        return self.instances[name]

    def snapshot(self) -> list[dict[str, Any]]:
        return [i.snapshot() for i in self.instances.values()]

    async def close(self) -> None:
        for inst in list(self.instances.values()):
            await self._halt(inst)
        self.instances.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog
            self._watchdog = None

    # ---- supervision -----------------------------------------------------------------------------
    def _launch(self, inst: Instance) -> None:
        try:
            inst.config = validate_config(inst.cls.CONFIG_SCHEMA, inst.raw)
        except ConfigError as e:
            inst.status, inst.message = Status.BAD_CONFIG, str(e)
            log.error("adapter %s (%s): bad config: %s", inst.name, inst.kind, e)
            return
        inst.sub = self.bus.subscribe(f"adapter:{inst.name}", self.QUEUE_DEPTH)
        inst.task = self._spawn(self._supervise(inst), f"adapter:{inst.name}")

    async def _halt(self, inst: Instance) -> None:
        if inst.task is not None:
            inst.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await inst.task
            inst.task = None
        if inst.sub is not None:
            self.bus.unsubscribe(inst.sub)
            inst.sub = None
        inst.status, inst.message = Status.DISCONNECTED, "stopped"

    async def _supervise(self, inst: Instance) -> None:
        ctx = _Context(inst, self)
        delay = self.BACKOFF_MIN_S
        while True:
            adapter = inst.cls()
            inst.adapter = adapter
            inst.status, inst.message = Status.CONNECTING, ""
            began = time.monotonic()
            try:
                await adapter.start(ctx, inst.config)
                await adapter.run()
                # run() returned: the notice stream closed (the host is stopping)
                await self._stop_quietly(inst, adapter)
                return
            except asyncio.CancelledError:
                await self._stop_quietly(inst, adapter)
                raise
            except ConfigError as e:  # found at start (a missing file): a retry cannot fix it
                inst.status, inst.message = Status.BAD_CONFIG, str(e)[:300]
                log.error("adapter %s (%s): bad config: %s", inst.name, inst.kind, e)
                await self._stop_quietly(inst, adapter)
                return
            except Exception as e:
                inst.status, inst.message = Status.ERROR, f"{type(e).__name__}: {e}"[:300]
                log.exception("adapter %s (%s) failed; restarting", inst.name, inst.kind)
                await self._stop_quietly(inst, adapter)
            inst.holding_since = None
            if time.monotonic() - began > self.HEALTHY_S:
                delay = self.BACKOFF_MIN_S
            inst.restarts += 1
            await asyncio.sleep(delay * random.uniform(0.75, 1.25))
            delay = min(delay * 2, self.BACKOFF_MAX_S)

    async def _stop_quietly(self, inst: Instance, adapter: Adapter) -> None:
        try:
            async with asyncio.timeout(5):
                await adapter.stop()
        except Exception:
            log.exception("adapter %s failed to stop cleanly", inst.name)

    async def _watch_loop(self) -> None:
        """Log an adapter that held the event loop (a blocking call in an async handler)."""
        period = 0.02
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(period)
            t1 = time.monotonic()
            lag_ms = (t1 - t0 - period) * 1000
            if lag_ms <= self.STALL_MS:
                continue
            for inst in self.instances.values():
                start, end = inst.last_hold
                held = inst.holding_since is not None and inst.holding_since <= t1
                if held or (end >= t0 and start <= t1):
                    inst.stalls += 1
                    log.warning(
                        "adapter %s (%s) held the event loop about %.0f ms: handlers must not block",
                        inst.name,
                        inst.kind,
                        lag_ms,
                    )
