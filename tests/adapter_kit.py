"""Shared by the studio-adapter tests: a host with three podiums, one whole question played
through the operator interface and fed presses, the real OSC tools and socat as subprocesses,
and the reconfigure-twice check every built-in adapter kind passes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
from buzzline.adapters.api import Adapter, Status
from buzzline.core import events as ev
from buzzline.core.show import Show
from buzzline.host_service import HostService
from buzzline.hosttime import now_us
from buzzline.io.broker import udp_bound

PODIUMS = ["p1", "p2", "p3"]


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.fail(f"{tool} is required (bash .ci/run installs it)")
    return path


def free_udp_ports(n: int) -> list[int]:
    """``n`` distinct free UDP ports (held together while chosen, so never the same twice)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_udp_port() -> int:
    return free_udp_ports(1)[0]


@contextlib.asynccontextmanager
async def host(broker: Any, studio: str = "osc") -> AsyncIterator[HostService]:
    """A host with three online podiums (seats 1-3: p1, p2, p3)."""
    async with HostService(broker.host, broker.port, studio, show=Show.default(PODIUMS)) as svc:
        for pid in PODIUMS:
            await svc.feed(ev.PodiumOnline(pid))
        yield svc


_seq: dict[str, int] = {}


async def press(svc: HostService, pid: str) -> None:
    _seq[pid] = _seq.get(pid, 0) + 1
    t = now_us()
    await svc.feed(ev.PodiumPress(pid, _seq[pid], t, t, 500, True, t))


async def wait_phase(svc: HostService, phase: str, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while svc.engine.view()["phase"] != phase:
            await asyncio.sleep(0.01)


async def ok(svc: HostService, name: str, **args: Any) -> None:
    effects = await svc.command(name, **args)
    refused = [e for e in effects if isinstance(e, ev.CommandRefused)]
    assert not refused, refused


async def whole_question(svc: HostService, pause: float = 0.05) -> None:
    """Seat 3 false-starts while the question is read, seat 2 wins and answers wrong, the
    question reopens, seat 1 wins and answers right. ``pause`` lets each step's messages out."""
    await ok(svc, "read")
    await press(svc, "p3")  # before the buzzers are armed: a false start
    await asyncio.sleep(pause)
    await ok(svc, "arm")
    await asyncio.sleep(pause)
    await press(svc, "p2")
    await wait_phase(svc, "answering")
    await asyncio.sleep(pause)
    await ok(svc, "judge", correct=False)  # reopens for p1 (p3 is still locked out)
    await asyncio.sleep(pause)
    await press(svc, "p1")
    await wait_phase(svc, "answering")
    await asyncio.sleep(pause)
    await ok(svc, "judge", correct=True)
    await asyncio.sleep(pause)


class Dump:
    """``oscdump -L PORT`` in its own process: every message it prints, parsed."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.lines: list[tuple[str, str, list[str]]] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Dump:
        self.proc = await asyncio.create_subprocess_exec(
            need("oscdump"), "-L", str(self.port), stdout=asyncio.subprocess.PIPE
        )
        self._reader = asyncio.create_task(self._read())
        # ready once the port is bound
        async with asyncio.timeout(10):
            while not udp_bound(self.port):
                await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        assert self.proc.returncode is None, f"oscdump could not listen on {self.port}"
        return self

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            parts = line.decode().split()
            if len(parts) >= 2:
                types = parts[2] if len(parts) > 2 else ""
                self.lines.append((parts[1], types, parts[3:]))

    async def wait(self, n: int, timeout: float = 10.0) -> list[tuple[str, str, list[str]]]:
        async with asyncio.timeout(timeout):
            while len(self.lines) < n:
                await asyncio.sleep(0.01)
        return self.lines

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()


async def socat(dev: Path, peer: Path) -> asyncio.subprocess.Process:
    """A pty pair: ``dev`` stands in for a serial interface, ``peer`` is its far end."""
    proc = await asyncio.create_subprocess_exec(
        need("socat"), f"pty,raw,echo=0,link={dev}", f"pty,raw,echo=0,link={peer}",
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    async with asyncio.timeout(5):
        while not (dev.exists() and peer.exists()):
            await asyncio.sleep(0.02)
    return proc


# ---- reconfigure twice -----------------------------------------------------------------------------


def built_in_kinds() -> set[str]:
    """The adapter kinds Buzzline itself registers (entry points of the buzzline distribution)."""
    return {
        ep.name
        for ep in entry_points(group="buzzline.adapters")
        if ep.dist is not None and ep.dist.name == "buzzline"
    }


def holdings(adapter: Adapter) -> dict[str, Any]:
    """What an idle adapter holds, by size: every container among its attributes, measured
    through nested containers (a rule table whose lists grow shows). Counters, settings, the
    context and the stage (what notices told it) are left out: they may change, never grow."""
    skip = {"ctx", "config", "stage", "preset"}

    def size(value: Any, depth: int = 0) -> Any:
        if depth > 3:
            return None
        if isinstance(value, dict):
            return (len(value), sorted((str(k), size(v, depth + 1)) for k, v in value.items()))
        if isinstance(value, list | tuple | set | frozenset | collections.deque):
            return (len(value), [size(v, depth + 1) for v in value] if not isinstance(value, set) else None)
        return None

    return {
        name: size(value)
        for name, value in vars(adapter).items()
        if name not in skip and size(value) is not None
    }


def tasks_of(name: str) -> list[str]:
    """The asyncio tasks an adapter instance runs (each is named after it)."""
    return sorted(
        t.get_name() for t in asyncio.all_tasks() if t.get_name().endswith(":" + name) and not t.done()
    )


async def until_ok(svc: HostService, name: str, timeout: float = 10.0) -> None:
    inst = svc.adapters.instances[name]
    async with asyncio.timeout(timeout):
        while inst.status is not Status.OK:
            await asyncio.sleep(0.01)


async def reconfigure_twice(svc: HostService, name: str) -> None:
    """Reconfigure a running adapter twice with its own settings: it stays the same adapter
    (applied in place, no restart), stays ok, and holds no more than it did before (rules,
    tasks, queues), so nothing it sends goes out twice."""
    inst = svc.adapters.instances[name]
    await until_ok(svc, name)
    await asyncio.sleep(0.1)  # let start-up sends settle
    adapter, restarts = inst.adapter, inst.restarts
    assert adapter is not None
    before, tasks = holdings(adapter), tasks_of(name)
    for n in (1, 2):
        await svc.adapters.reconfigure(name, inst.raw)
        await until_ok(svc, name)
        await asyncio.sleep(0.1)
        assert inst.adapter is adapter and inst.restarts == restarts, f"{name}: restarted on reconfigure {n}"
        assert holdings(adapter) == before, f"{name}: holds more after reconfigure {n}"
        assert tasks_of(name) == tasks, f"{name}: tasks after reconfigure {n}"
