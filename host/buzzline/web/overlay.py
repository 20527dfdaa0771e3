"""The browser overlay for OBS: ``GET /overlay`` and its live stream, from a notice bus.

One ``OverlayHub`` per bus keeps a ``Scene`` (the same model the pygame scoreboard draws) up to
date from its own subscription and pushes each new snapshot to every open page over Server-Sent
Events (``GET /overlay/stream``). A page that connects, or reconnects after the host restarted,
gets the current snapshot at once; a slow page only ever holds the latest one. The page, its
script, style and font are served from here: no build step, no request leaves the host.

Query parameters: ``layout`` = lowerthird (default) | scoreboard | winner; ``theme`` = dark
(default) | light | clear; ``accent`` = rrggbb. A bad value is a 400 that says which.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import segno
from starlette.requests import Request
from starlette.responses import FileResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Route

from buzzline.adapters import audience_screens
from buzzline.notices import Notice, Subscription
from buzzline.viewer.scene import Scene
from buzzline.viewer.theme import DEFAULT, Theme, hex_colour, parse_colour

LAYOUTS = ("lowerthird", "scoreboard", "winner")
THEMES = ("dark", "light", "clear")
STATIC = ("overlay.js", "overlay.css", "overlay-audience.css")
KEEPALIVE_S = 15.0
RETRY_MS = 500  # how soon a page's EventSource reconnects after the host went away


SuperviseFn = Callable[[str, Callable[[], Awaitable[None]]], Any]  # HostService.supervise


class NoticeSource(Protocol):
    """A notice bus (the host's, or the standalone viewer's)."""

    latest: Notice | None

    def subscribe(self, name: str, maxsize: int = ..., replay_latest: bool = ...) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...


def _static(name: str) -> Path:
    return Path(str(resources.files("buzzline.web").joinpath("static", name)))


def font_path(theme: Theme) -> Path:
    """The overlay's font: the theme's bold font, else the one pygame ships."""
    if theme.font_bold:
        return Path(theme.font_bold)
    import pygame

    return Path(pygame.__file__).parent / "freesansbold.ttf"


class OverlayHub:
    """The scene every overlay page shows, kept current from one bus subscription."""

    def __init__(self, source: NoticeSource, supervise: SuperviseFn | None = None) -> None:
        self.source = source
        self.scene = Scene()
        self._clients: set[asyncio.Event] = set()
        self._supervise = supervise
        self._task: asyncio.Task[None] | None = None
        self.part: Any = None  # the host's supervised part, when it runs in a host
        self._lives = 0
        self.closed = False
        self._unwatch: Callable[[], None] | None = None

    def ensure_running(self) -> None:
        if self._lives or self._task is not None or self.part is not None or self.closed:
            return
        if self._unwatch is None:  # the audience adapters of this process, as the viewer sees them
            self._unwatch = audience_screens.watch(self.apply_audience)
        if self.source.latest is not None:  # the present at once, not after a task switch
            self.apply(self.source.latest)
        if self._supervise is not None:  # in a host: restarted if it dies
            self.part = self._supervise("overlay-hub", self._follow)
        else:
            self._task = asyncio.create_task(self._alone(), name="overlay-hub")

    async def _alone(self) -> None:
        try:
            await self._follow()
        finally:
            self.close()

    async def _follow(self) -> None:
        sub = self.source.subscribe("overlay", 64, replay_latest=False)
        if self._lives and self.source.latest is not None:
            self.apply(self.source.latest)  # back after a death: the present first
        self._lives += 1
        try:
            async for notice in sub:
                self.apply(notice)
        finally:
            self.source.unsubscribe(sub)
        self.close()  # the bus closed: the host is stopping, every stream ends

    def apply(self, notice: Notice) -> None:
        self.scene.apply_notice(notice.view, notice.events, _now_ms())
        for wake in self._clients:
            wake.set()

    def apply_audience(self, info: dict[str, Any]) -> None:
        self.scene.apply_audience(info)
        for wake in self._clients:
            wake.set()

    def snapshot(self) -> dict[str, Any]:
        """The scene now (timers and false starts as they stand at this instant)."""
        now = _now_ms()
        self.scene.tick(now)
        return self.scene.snapshot(now)

    def close(self) -> None:
        """End every stream (the bus closed: the host is stopping)."""
        self.closed = True
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        for wake in self._clients:
            wake.set()

    async def stream(self) -> AsyncIterator[bytes]:
        wake = asyncio.Event()
        self._clients.add(wake)
        try:
            yield f"retry: {RETRY_MS}\n\n".encode()
            while not self.closed:
                wake.clear()
                data = json.dumps(self.snapshot(), separators=(",", ":"), ensure_ascii=False)
                yield b"data: " + data.encode() + b"\n\n"
                try:
                    async with asyncio.timeout(KEEPALIVE_S):
                        await wake.wait()
                except TimeoutError:
                    pass  # a fresh snapshot doubles as the keepalive
        finally:
            self._clients.discard(wake)

    @property
    def clients(self) -> int:
        return len(self._clients)


def qr_svg(text: str, scale: int = 6) -> bytes:
    """``text`` as a QR code, a standalone SVG document (an ``<img>`` needs the namespace)."""
    buf = io.BytesIO()
    qr = segno.make(text, error="m")
    qr.save(buf, kind="svg", scale=scale, border=2, dark="#000", light="#fff", xmldecl=False, svgns=True)
    return buf.getvalue()


def _now_ms() -> float:
    return time.monotonic() * 1000.0


class Overlay:
    """The overlay's routes (``routes``) for a Starlette app, the host's or the standalone
    viewer's; ``close()`` ends the open streams so the server can stop."""

    def __init__(
        self, source: NoticeSource, theme: Theme = DEFAULT, supervise: SuperviseFn | None = None
    ) -> None:
        self.hub = OverlayHub(source, supervise)
        self.routes = _routes(self.hub, theme)

    def close(self) -> None:
        self.hub.close()


def _routes(hub: OverlayHub, theme: Theme) -> list[BaseRoute]:
    template = _static("overlay.html").read_text(encoding="utf-8")
    font = font_path(theme)
    theme_css = ":root{" + ";".join(f"{k}:{v}" for k, v in theme.css_vars().items()) + "}"

    async def page(request: Request) -> Response:
        """The OBS overlay page (?layout=lowerthird|scoreboard|winner&theme=dark|light|clear)."""
        layout = request.query_params.get("layout", "lowerthird")
        name = request.query_params.get("theme", "dark")
        if layout not in LAYOUTS:
            return PlainTextResponse(f"layout must be one of {', '.join(LAYOUTS)}", status_code=400)
        if name not in THEMES:
            return PlainTextResponse(f"theme must be one of {', '.join(THEMES)}", status_code=400)
        css = theme_css
        accent = request.query_params.get("accent")
        if accent is not None:
            try:
                css += ":root{--accent:#" + hex_colour(parse_colour(accent)) + "}"
            except ValueError:
                return PlainTextResponse("accent must be six hex digits (rrggbb)", status_code=400)
        html = template.replace("{{layout}}", layout).replace("{{theme}}", name).replace("{{theme_css}}", css)
        return Response(html, media_type="text/html; charset=utf-8", headers={"cache-control": "no-store"})

    async def static(request: Request) -> Response:
        """The overlay's script and style."""
        name = request.path_params["file"]
        if name not in STATIC:
            return PlainTextResponse("not found", status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(_static(name), media_type=media)

    async def font_file(_: Request) -> Response:
        """The overlay's font (served here: the page makes no outside request)."""
        return FileResponse(font, media_type="font/ttf")

    async def stream(_: Request) -> Response:
        """The overlay's scene, live (Server-Sent Events; the current scene first)."""
        hub.ensure_running()
        return StreamingResponse(
            hub.stream(),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def qr(request: Request) -> Response:
        """The audience's join link as a QR code: the link this scene shows (a path is taken
        against the address this request came to, as the page does)."""
        hub.ensure_running()
        audience = hub.snapshot()["audience"]
        if audience is None:
            return PlainTextResponse("no audience", status_code=404)
        link = audience["join_url"] or f"/audience/?code={audience['code']}"
        if "://" not in link:
            link = str(request.base_url).rstrip("/") + link
        return Response(qr_svg(link), media_type="image/svg+xml", headers={"cache-control": "no-store"})

    async def snapshot(_: Request) -> Response:
        """The overlay's scene now (JSON)."""
        hub.ensure_running()
        return Response(json.dumps(hub.snapshot()), media_type="application/json")

    return [
        Route("/overlay", page, methods=["GET"]),
        Route("/overlay/stream", stream, methods=["GET"]),
        Route("/overlay/scene", snapshot, methods=["GET"]),
        Route("/overlay/font.ttf", font_file, methods=["GET"]),
        Route("/overlay/qr.svg", qr, methods=["GET"]),
        Route("/overlay/{file}", static, methods=["GET"]),
    ]
