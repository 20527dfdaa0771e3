"""The OBS overlay in a real browser: Debian's Chromium driven by Playwright, against the host's
own HTTP server, a real broker and virtual podiums. The winner appears after a decision, the page
paints no background, it asks nothing of any other server, and it recovers when the host restarts."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.core.show import Player, Round, Rules, Show
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker, free_port
from buzzline.sim.podium import VirtualPodium
from buzzline.web.app import OperatorServer, serve_operator_api

pytestmark = pytest.mark.broker
STUDIO = "ovl"
PIDS = ("p1", "p2", "p3")
WAIT_MS = 5000  # generous on a loaded machine: latency is measured by `buzzline bench viewer`


def show() -> Show:
    return Show(
        title="Overlay",
        players=tuple(Player(f"Player {i + 1}", podium=pid) for i, pid in enumerate(PIDS)),
        rules=Rules(answer_ms=0, buzz_window_ms=0),
        rounds=(Round("R1", (100, 200, 300)),),
    )


class Studio:
    """A host with its HTTP server on a fixed port (so it can be restarted there) and podiums."""

    def __init__(self, broker: MosquittoBroker, log: Path, port: int) -> None:
        self.broker = broker
        self.log = log
        self.port = port
        self.stack = contextlib.AsyncExitStack()
        self.svc: HostService | None = None
        self.api: OperatorServer | None = None
        self.podiums: list[VirtualPodium] = []

    async def start_host(self) -> HostService:
        svc = HostService(self.broker.host, self.broker.port, STUDIO, show=show(), log_path=self.log)
        await svc.start()
        self.svc = svc
        self.api = await serve_operator_api(svc, "127.0.0.1", self.port, token="t")
        return svc

    async def stop_host(self) -> None:
        if self.api is not None:
            await self.api.close()
            self.api = None
        if self.svc is not None:
            await self.svc.stop()
            self.svc = None

    async def start_podiums(self) -> None:
        for i, pid in enumerate(PIDS):
            p = VirtualPodium(pid, self.broker.host, self.broker.port, STUDIO, rng=random.Random(i))
            self.podiums.append(await self.stack.enter_async_context(p))

    async def synced(self) -> None:
        svc = self.svc
        assert svc is not None
        async with asyncio.timeout(15):
            await asyncio.gather(*(p.synced.wait() for p in self.podiums))
            while not all(svc.clocks.model(p.pid, p.boot).trusted for p in self.podiums):
                await asyncio.sleep(0.02)

    async def question(self, presser: int) -> str:
        svc = self.svc
        assert svc is not None
        await svc.command("read")
        await svc.command("arm")
        async with asyncio.timeout(5):
            await self.podiums[presser].wait_light("armed")
        waiter = asyncio.ensure_future(svc.wait_decision(5))
        await self.podiums[presser].press()
        d = await waiter
        assert d.winner == PIDS[presser]
        return f"Player {presser + 1}"


async def winner_shown(page: Any, name: str) -> None:
    await page.wait_for_function(
        "name => { const w = document.getElementById('winner');"
        " return !w.hidden && document.getElementById('winner-name').textContent === name; }",
        arg=name,
        timeout=WAIT_MS,
    )


async def test_overlay_shows_the_winner_is_transparent_and_survives_a_host_restart(
    broker: MosquittoBroker, browser: Any, tmp_path: Path
) -> None:
    import pygame

    studio = Studio(broker, tmp_path / "show.db", free_port())
    base = f"http://127.0.0.1:{studio.port}"
    async with studio.stack:
        await studio.start_host()
        studio.stack.push_async_callback(studio.stop_host)
        await studio.start_podiums()
        await studio.synced()

        page = await browser.new_page(viewport={"width": 1280, "height": 720})
        requests: list[str] = []
        page.on("request", lambda r: requests.append(r.url))
        await page.goto(f"{base}/overlay?layout=lowerthird")
        await page.wait_for_function(
            "document.querySelectorAll('#board .player').length === 3", timeout=WAIT_MS
        )
        assert await page.is_hidden("#winner")

        name = await studio.question(1)
        await winner_shown(page, name)
        order = await page.inner_text("#order")
        assert "1. Player 2" in order

        # the page paints no background: OBS composites it over the programme
        await page.wait_for_function("document.getAnimations().length === 0", timeout=WAIT_MS)
        png = await page.screenshot(omit_background=True)
        shot = pygame.image.load(io.BytesIO(png), "shot.png")
        w, h = shot.get_size()
        for xy in [(0, 0), (w - 1, 0), (w // 2, h // 4), (w - 1, h - 1)]:
            assert shot.get_at(xy).a == 0, xy
        box = await page.locator("#winner").bounding_box()
        assert box is not None
        inside = shot.get_at((int(box["x"] + box["width"] / 2), int(box["y"] + 4)))
        assert inside.a > 0  # the banner itself is drawn

        # the host goes away and comes back on the same port, resumed from its log
        await studio.stop_host()
        await page.wait_for_function("document.body.dataset.link === 'down'", timeout=WAIT_MS)
        await studio.start_host()
        await page.wait_for_function("document.body.dataset.link === 'up'", timeout=WAIT_MS)
        await winner_shown(page, name)  # the current state at once
        assert studio.svc is not None
        await studio.svc.command("judge", correct=True)
        await studio.svc.command("next")
        await page.wait_for_function("document.getElementById('winner').hidden", timeout=WAIT_MS)
        await studio.synced()
        name = await studio.question(2)
        await winner_shown(page, name)
        score = await page.inner_text("#board .player[data-podium='p2'] .score")
        assert score == "100"

        assert requests and all(u.startswith(base + "/") for u in requests), requests
        await page.close()


async def test_overlay_layouts_and_bad_parameters(broker: MosquittoBroker, browser: Any) -> None:
    async with HostService(broker.host, broker.port, STUDIO, show=show()) as svc:
        port = free_port()
        api = await serve_operator_api(svc, "127.0.0.1", port, token="t")
        base = f"http://127.0.0.1:{port}"
        try:
            async with httpx.AsyncClient(base_url=base) as http:
                for query, words in [
                    ("layout=sideways", "layout must be one of"),
                    ("theme=neon", "theme must be one of"),
                    ("accent=red", "accent must be six hex digits"),
                ]:
                    r = await http.get(f"/overlay?{query}")
                    assert r.status_code == 400 and words in r.text, query
                assert (await http.get("/overlay/evil.js")).status_code == 404
                font = await http.get("/overlay/font.ttf")
                assert font.status_code == 200 and len(font.content) > 10_000
            page = await browser.new_page(viewport={"width": 1280, "height": 720})
            await page.goto(f"{base}/overlay?layout=winner&theme=light&accent=00ff00")
            await page.wait_for_function("document.body.dataset.link === 'up'", timeout=WAIT_MS)
            assert await page.evaluate("document.body.dataset.layout") == "winner"
            assert await page.is_hidden("#board")  # the winner layout shows only the banner
            accent = await page.evaluate(
                "getComputedStyle(document.body).getPropertyValue('--accent').trim()"
            )
            assert accent == "#00ff00"
            await page.goto(f"{base}/overlay?layout=scoreboard")
            await page.wait_for_function(
                "document.querySelectorAll('#board .player').length === 3", timeout=WAIT_MS
            )
            assert await page.is_visible("#board") and await page.is_hidden("#winner")
            await page.close()
        finally:
            await api.close()
