"""Shared by the audience tests: a NATS cluster of our own on free ports, and the adapter in a
runner fed by a notice bus of the test's own."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from buzzline.adapters.api import CommandResult, Notice, Status
from buzzline.adapters.audience import AudienceAdapter
from buzzline.adapters.audience_cluster import AudienceCluster, ClusterPlan, find_nats_server
from buzzline.adapters.runner import AdapterManager, Instance
from buzzline.notices import NoticeBus

QUESTIONS = ["Largest planet? | Mars | *Jupiter | Venus", "Smallest? | *Mercury | Mars"]


@contextlib.contextmanager
def cluster(tmp: Path, nodes: int = 3) -> Iterator[AudienceCluster]:
    """Never the machine's own NATS on 4222: every port is a free one."""
    if find_nats_server() is None:
        pytest.fail("nats-server is required (bash .ci/run installs it)")
    with AudienceCluster(ClusterPlan.free(nodes), tmp / "nats") as c:
        yield c


async def _ok(name: str, /, **args: Any) -> CommandResult:
    return CommandResult(True)


class Show:
    """The adapter under a real runner; ``question(q)`` sends the host's notice for question q."""

    def __init__(self, manager: AdapterManager, inst: Instance, bus: NoticeBus) -> None:
        self.manager = manager
        self.inst = inst
        self.bus = bus
        self.seq = 0

    @property
    def adapter(self) -> AudienceAdapter:
        assert isinstance(self.inst.adapter, AudienceAdapter)
        return self.inst.adapter

    def question(self, q: int) -> None:
        self.seq += 1
        view = {"phase": "reading", "q": q, "info": {"title": "Test show"}}
        self.bus.publish(Notice(self.seq, 0, ({"k": "question", "q": q},), view))

    async def wait(self, what: Any, timeout_s: float = 15.0) -> None:
        async with asyncio.timeout(timeout_s):
            while not what():
                await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def show(c: AudienceCluster, code: str = "TEST42", **settings: Any) -> AsyncIterator[Show]:
    bus = NoticeBus()
    view = {"phase": "idle", "info": {"title": "Test show"}}
    manager = AdapterManager(bus, lambda: view, _ok, kinds={"audience": AudienceAdapter})
    config = {
        "servers": c.plan.client_urls(),
        "password": c.plan.show_password,
        "code": code,
        "questions": QUESTIONS,
        "window_s": 4.0,
        "settle_ms": 100,
        "monitor": c.plan.monitor_urls(),
        "replicas": min(3, len(c.plan.nodes)),
    } | settings
    inst = await manager.add("audience", "audience", config)
    s = Show(manager, inst, bus)
    try:
        await s.wait(lambda: inst.status is Status.OK)
        yield s
    finally:
        await manager.close()
