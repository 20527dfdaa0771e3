"""The ``viewer`` adapter: the scoreboard window, inside the host or anywhere the runner runs it.

The window lives in its own thread (``ViewerWindow``); this adapter only hands each notice's
view and events to it, so drawing never holds the host's event loop. Closing the window (Esc or
the close button) stops the adapter with status ``disconnected``; a window that cannot open (no
display) is an ``error`` the runner retries with backoff.

    [[adapters]]
    name = "studio-screen"
    kind = "viewer"
    fullscreen = true
    display = 1
    theme = "themes/studio.toml"
    audience = "http://10.0.0.2:8080"   # a host elsewhere that runs the audience adapter
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from buzzline.adapters import audience_screens
from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Status
from buzzline.viewer.theme import DEFAULT, ThemeError, load_theme
from buzzline.viewer.window import ViewerWindow

OPEN_TIMEOUT_S = 10.0


class WindowError(RuntimeError):
    """The window could not open, or died (the runner retries with backoff)."""


class ViewerAdapter(Adapter):
    """Scoreboard window (pygame) for studio and audience screens."""

    KIND = "viewer"
    TITLE = "Scoreboard window (pygame) for studio and audience screens"
    CONFIG_SCHEMA = (
        Field("fullscreen", "bool", False, "fill the whole screen"),
        Field("display", "int", 0, "which screen, 0 for the first", min=0, max=15),
        Field("theme", "str", "", "theme file (TOML); empty: the default theme"),
        Field("width", "int", 1920, "window width when not fullscreen", min=320, max=7680),
        Field("height", "int", 1080, "window height when not fullscreen", min=240, max=4320),
        Field(
            "audience",
            "str",
            "",
            "the host's web address (http://HOST:8080) to show its audience from; empty: an"
            " audience adapter in this process",
        ),
    )

    window: ViewerWindow | None = None
    _unwatch: Callable[[], None] | None = None
    _follow: asyncio.Task[None] | None = None

    def __init__(self) -> None:
        super().__init__()
        # one for the adapter's life: run() watches it across reconfigures (which swap windows)
        self._closed = asyncio.Event()

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        theme = DEFAULT
        if config["theme"]:
            try:
                theme = load_theme(config["theme"])
            except ThemeError as e:
                raise ConfigError("theme", str(e)) from None
        url = config["audience"]
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError("audience", f"{url!r}: the host's web address, e.g. http://host:8080")
        loop = asyncio.get_running_loop()
        window = ViewerWindow(
            theme,
            (config["width"], config["height"]),
            fullscreen=config["fullscreen"],
            display=config["display"],
            title=f"Buzzline: {ctx.name}",
        )
        window.on_close = lambda: _call_soon(loop, lambda: self._window_closed(window))
        window.post(ctx.view())
        self.window = window
        # an audience adapter in this process: its join code, QR code, spread and leaderboard
        self._unwatch = audience_screens.watch(window.post_audience)
        if url:
            from buzzline.viewer.audience_feed import follow

            self._follow = asyncio.create_task(follow(url), name=f"viewer-audience:{ctx.name}")
        window.start_thread()
        await asyncio.to_thread(window.opened.wait, OPEN_TIMEOUT_S)
        if window.error is not None:
            raise WindowError(f"the window did not open: {window.error}")
        ctx.set_status(Status.OK)

    async def run(self) -> None:
        consumer = asyncio.create_task(self._consume(), name=f"viewer:{self.ctx.name}")
        closed = asyncio.create_task(self._closed.wait())
        try:
            done, _ = await asyncio.wait({consumer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (consumer, closed):
                t.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await t
        window = self.window
        if window is not None and window.error is not None:
            raise WindowError(f"the window failed: {window.error}")
        if closed in done:
            self.ctx.set_status(Status.DISCONNECTED, "window closed")
        elif consumer in done:
            consumer.result()

    async def _consume(self) -> None:
        async for notice in self.ctx.notices():
            if self.window is not None:
                self.window.post(notice.view, notice.events, notice.host_us)

    def _window_closed(self, window: ViewerWindow) -> None:
        """The viewer closed its window; one that ``stop`` closed (a reconfigure) is not news."""
        if window is self.window:
            self._closed.set()

    async def stop(self) -> None:
        if self._follow is not None:
            self._follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._follow
            self._follow = None
        if self._unwatch is not None:
            self._unwatch()
            self._unwatch = None
        window = self.window
        self.window = None
        if window is not None:
            window.close()
            await asyncio.to_thread(window.join, 5.0)


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[[], None]) -> None:
    loop.call_soon_threadsafe(fn)
