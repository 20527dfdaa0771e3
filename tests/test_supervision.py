"""No part of the host runs half-alive: the web server, its collector, the terminal printer and
the adapters run in the service's TaskGroup. A web server that dies comes back on the same port;
one that may not come back stops the host with the reason. Real host, real Mosquitto, real
uvicorn and HTTP."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.lifecycle import Part, PartFailed, RestartPolicy, keep
from buzzline.web.app import serve_operator_api

QUICK = RestartPolicy(limit=2, window_s=60, backoff_s=(0.01,))


async def until(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_part_that_dies_is_restarted_until_it_may_not_be() -> None:
    lives: list[int] = []

    async def dies() -> None:
        lives.append(len(lives))
        raise OSError("gone")

    part = Part("flaky")
    with pytest.raises(PartFailed, match=r"flaky died 3 times in 60 s: OSError: gone"):
        await keep(part, dies, QUICK)
    assert lives == [0, 1, 2] and part.restarts == 2


async def test_a_part_that_returns_is_a_death_unless_it_was_closing() -> None:
    part = Part("once", restart=False)
    with pytest.raises(PartFailed, match="once died: it ended by itself"):
        await keep(part, lambda: asyncio.sleep(0), QUICK)
    part = Part("closed")
    part.closing = True
    await keep(part, lambda: asyncio.sleep(0), QUICK)  # returns: its owner ended it
    assert part.restarts == 0


async def test_the_web_server_dies_and_comes_back_on_its_port(broker: Any) -> None:
    async with HostService(broker.host, broker.port, "sup") as svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token="t")
        try:
            first = api.server
            url = f"http://127.0.0.1:{api.port}/api/state"
            async with httpx.AsyncClient() as http:
                assert (await http.get(url)).status_code == 200
                first.should_exit = True  # the server ends without being asked to by its owner
                await until(lambda: api.server is not first and api.server.started)
                assert (await http.get(url)).status_code == 200
            part = svc.parts["web-server"]
            assert part.restarts == 1 and part.last_error == "it ended by itself"
            assert svc.failed is None and svc.connected.is_set()
            assert "web-collector" in svc.parts  # the collector runs in the host's group too
            async with httpx.AsyncClient() as http:
                assert (await http.get(f"http://127.0.0.1:{api.port}/overlay/scene")).status_code == 200
            assert "overlay-hub" in svc.parts  # and the overlay's, once a page asks for it
        finally:
            await api.close()
        assert not svc.parts  # closed by their owner: gone, not dead


async def test_a_web_server_that_may_not_come_back_stops_the_host_with_the_reason(broker: Any) -> None:
    svc = HostService(broker.host, broker.port, "sup")
    svc.PARTS = RestartPolicy(limit=0)
    async with svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token="t")
        api.server.should_exit = True
        async with asyncio.timeout(10):
            await svc.wait_stopped()
        assert isinstance(svc.failed, PartFailed)
        assert "web-server died 1 times" in str(svc.failed) and "ended by itself" in str(svc.failed)
        await api.close()


async def test_a_bug_in_an_adapters_supervisor_stops_the_host_with_the_reason(broker: Any) -> None:
    """An adapter that fails is the runner's to restart; the runner itself failing is a bug, and
    its task is in the host's group: the host stops and says why, instead of running on without
    that adapter."""

    async def broken_runner(inst: Any) -> None:
        raise RuntimeError(f"runner bug with {inst.name}")

    async with HostService(broker.host, broker.port, "sup") as svc:
        svc.adapters._supervise = broken_runner  # type: ignore[method-assign]
        await svc.adapters.add("desk", "osc", {"port": free_port()})
        async with asyncio.timeout(10):
            await svc.wait_stopped()
        assert isinstance(svc.failed, RuntimeError) and str(svc.failed) == "runner bug with desk"
