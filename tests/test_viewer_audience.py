"""The audience on the screens: the scene model's audience part (shared by the pygame viewer and
the OBS overlay) and the viewer's column drawn headless: the QR code's modules are the join
link's, the spread and the leaderboard's top are there, and an adapter that stops leaves."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http.server
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

os.environ["SDL_VIDEODRIVER"] = "dummy"

import pygame
from buzzline.adapters import audience_screens
from buzzline.viewer.audience_feed import follow
from buzzline.viewer.render import Renderer, qr_modules
from buzzline.viewer.scene import Scene, audience_snapshot, shares
from buzzline.viewer.window import ViewerWindow, init_pygame

from tests.test_viewer_render import view_of

SIZE = (1920, 1080)
LINK = "http://10.0.0.5:8080/audience/?code=PLAY42"
QUESTION = {"q": 2, "text": "Largest planet?", "choices": ["Mars", "Jupiter", "Venus"], "closed": False}
RESULTS = {"q": 2, "counts": [1, 2, 0], "correct": 1, "answers": 3, "question": QUESTION}
BOARD = [{"nick": f"p{i}", "points": 1000 - 50 * i, "correct": 1} for i in range(8)]


def info(**over: Any) -> dict[str, Any]:
    base = {"code": "PLAY42", "join_url": LINK, "players": 8, "question": QUESTION, "results": None}
    return base | {"board": BOARD} | over


@pytest.fixture(autouse=True, scope="module")
def _pygame() -> Any:
    init_pygame(headless=True)
    yield
    pygame.display.quit()


def test_an_open_question_shows_its_choices_without_counts() -> None:
    a = audience_snapshot(info())
    assert a is not None
    assert a["code"] == "PLAY42" and a["join_url"] == LINK and a["question"] == "Largest planet?"
    assert a["open"] and not a["results"]
    assert [c["label"] for c in a["choices"]] == ["Mars", "Jupiter", "Venus"]
    assert all(c["pct"] is None and not c["right"] for c in a["choices"])


def test_results_show_the_spread_the_right_choice_and_the_top_five() -> None:
    a = audience_snapshot(info(results=RESULTS))
    assert a is not None and a["results"] and not a["open"] and a["answers"] == 3
    assert [(c["label"], c["count"], c["pct"], c["right"]) for c in a["choices"]] == [
        ("Mars", 1, 33, False),
        ("Jupiter", 2, 67, True),
        ("Venus", 0, 0, False),
    ]
    assert [r["nick"] for r in a["board"]] == ["p0", "p1", "p2", "p3", "p4"]


def test_a_newer_open_question_hides_the_old_spread_and_late_results_label_themselves() -> None:
    q3 = QUESTION | {"q": 3, "text": "Next?", "choices": ["x", "y"]}
    a = audience_snapshot(info(question=q3, results=RESULTS))
    assert a is not None and a["open"] and a["question"] == "Next?" and a["choices"][0]["pct"] is None
    # a screen that never saw question 2 open labels its results from the results themselves
    late = audience_snapshot(info(question=None, results=RESULTS))
    assert late is not None and late["question"] == "Largest planet?" and late["choices"][1]["right"]


def test_shares_round_as_the_phone_page_does() -> None:
    assert shares([1, 3, 0]) == [25, 75, 0]
    assert shares([1, 2]) == [33, 67]
    assert shares([0, 0]) == [0, 0]


def test_the_scene_follows_the_adapter_and_forgets_it_when_it_stops() -> None:
    scene = Scene()
    assert scene.snapshot(0)["audience"] is None
    v0 = scene.version
    scene.apply_audience(info())
    assert scene.snapshot(0)["audience"]["code"] == "PLAY42" and scene.version > v0
    scene.apply_audience({"code": "OTHER1", "gone": True})  # another show's adapter: not this one
    assert scene.snapshot(0)["audience"] is not None
    scene.apply_audience({"code": "PLAY42", "gone": True})
    assert scene.snapshot(0)["audience"] is None


def draw(snapshot_info: dict[str, Any] | None) -> tuple[pygame.Surface, Renderer]:
    scene = Scene()
    scene.apply_view(view_of(4), 0)
    if snapshot_info is not None:
        scene.apply_audience(snapshot_info)
    surface = pygame.Surface(SIZE)
    r = Renderer(surface)
    r.draw(scene.snapshot(0))
    return surface, r


def test_the_viewer_draws_the_join_links_qr_code_module_for_module() -> None:
    surface, r = draw(info(results=RESULTS))
    lay, qr = r.layout, r.qr_rect
    assert lay is not None and lay.audience is not None and qr is not None
    assert lay.audience.contains(qr) and not lay.audience.colliderect(lay.panels_area)
    rows = qr_modules(LINK)
    n = len(rows)
    cell = qr.width // n
    off = (qr.width - cell * n) // 2
    assert cell >= 4  # large enough for a phone across a studio
    wrong = 0
    for j, row in enumerate(rows):
        for i, dark in enumerate(row):
            x, y = qr.x + off + i * cell + cell // 2, qr.y + off + j * cell + cell // 2
            px = surface.get_at((x, y))[:3]
            wrong += px != ((0, 0, 0) if dark else (255, 255, 255))
    assert wrong == 0


def test_the_column_shows_the_spread_and_goes_when_the_audience_does() -> None:
    with_results, r = draw(info(results=RESULTS))
    open_q, _ = draw(info())
    assert r.layout is not None and r.layout.audience is not None
    col = r.layout.audience
    below_qr = pygame.Rect(col.x, r.qr_rect.bottom if r.qr_rect else col.y, col.width, col.bottom)
    below_qr = below_qr.clip(col)
    accent = r.c("accent")

    def count(surface: pygame.Surface, colour: tuple[int, int, int]) -> int:
        sub = surface.subsurface(below_qr)
        return int(pygame.mask.from_threshold(sub, colour, (8, 8, 8, 255)).count())

    # the right choice's bar and label in the accent colour, only once the results are out
    assert count(with_results, accent) > 200 and count(open_q, accent) < count(with_results, accent) // 4
    _, r2 = draw(None)
    assert r2.layout is not None and r2.layout.audience is None
    assert r2.layout.panels_area.width > r.layout.panels_area.width


def test_screens_in_the_process_follow_the_adapter_and_the_window_draws_it() -> None:
    window = ViewerWindow(size=(1280, 720))
    undo = audience_screens.watch(window.post_audience)
    try:
        audience_screens.tell(info(results=RESULTS))
        r = Renderer(pygame.display.set_mode((1280, 720)))  # the dummy driver's screen
        window.frame(r)  # what a frame of the window thread does with what was posted
        snap = window.scene.snapshot(0)["audience"]
        assert snap is not None and snap["code"] == "PLAY42" and snap["results"]
        assert r.qr_rect is not None
        audience_screens.tell({"code": "PLAY42", "gone": True})
        window.frame(r)
        assert window.scene.snapshot(0)["audience"] is None
        assert r.layout is not None and r.layout.audience is None
    finally:
        undo()
    # a late watcher gets what is on show now at once
    audience_screens.tell(info())
    seen: list[dict[str, Any]] = []
    undo = audience_screens.watch(seen.append)
    undo()
    audience_screens.tell({"code": "PLAY42", "gone": True})
    assert [s["code"] for s in seen] == ["PLAY42"]


async def test_a_viewer_apart_follows_the_hosts_audience_over_http(tmp_path: Path) -> None:
    """`buzzline viewer --audience URL`: the host's info.json, read once a second, told to the
    screens of the viewer's process; a host that drops its audience takes the column away."""
    doc = tmp_path / "audience" / "info.json"
    doc.parent.mkdir()
    doc.write_text(json.dumps({"audience": True} | info(results=RESULTS)))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seen: list[dict[str, Any]] = []
    undo = audience_screens.watch(seen.append)
    task = asyncio.create_task(follow(f"http://127.0.0.1:{server.server_address[1]}", every_s=0.05))
    try:
        async with asyncio.timeout(10):
            while not seen:
                await asyncio.sleep(0.02)
        assert seen[0]["code"] == "PLAY42" and seen[0]["results"] == RESULTS and "audience" not in seen[0]
        scene = Scene()
        scene.apply_audience(seen[0])
        assert scene.snapshot(0)["audience"]["choices"][1]["right"]
        doc.write_text(json.dumps({"audience": False}))
        async with asyncio.timeout(10):
            while not seen[-1].get("gone"):
                await asyncio.sleep(0.02)
        assert len([s for s in seen if not s.get("gone")]) == 1  # an unchanged info is not told again
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        undo()
        server.shutdown()


async def test_the_viewer_adapter_refuses_an_audience_address_that_is_not_a_web_address() -> None:
    from buzzline.adapters.api import ConfigError, validate_config
    from buzzline.viewer.adapter import ViewerAdapter

    config = validate_config(ViewerAdapter.CONFIG_SCHEMA, {"audience": "host:8080"})
    with pytest.raises(ConfigError) as e:
        await ViewerAdapter().start(None, config)  # type: ignore[arg-type]
    assert e.value.field == "audience"


async def test_the_overlay_serves_the_qr_code_of_the_link_its_scene_shows() -> None:
    import httpx
    from buzzline.notices import NoticeBus
    from buzzline.web.overlay import Overlay, qr_svg
    from starlette.applications import Starlette

    overlay = Overlay(NoticeBus())
    transport = httpx.ASGITransport(app=Starlette(routes=overlay.routes))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            assert (await http.get("/overlay/qr.svg")).status_code == 404  # no audience in this process
            audience_screens.tell(info())
            r = await http.get("/overlay/qr.svg")
            assert r.status_code == 200 and r.headers["content-type"].startswith("image/svg+xml")
            assert r.content == qr_svg(LINK)
            audience_screens.tell(info(join_url="/audience/?code=PLAY42"))  # a path: this address's
            r = await http.get("/overlay/qr.svg")
            assert r.content == qr_svg("http://testserver/audience/?code=PLAY42")
    finally:
        audience_screens.tell({"code": "PLAY42", "gone": True})
        overlay.close()
