"""The scoreboard window: one thread owns pygame (display, events, drawing); others post to it.

``ViewerWindow.post(view, events)`` is thread-safe and never blocks: the host's event loop (the
in-host adapter) or the standalone MQTT feed hands each notice over and goes on. The window
thread drains what was posted once per frame, advances the scene, draws only the regions that
changed, and sleeps to the next 60 Hz tick. Esc, Q or closing the window ends it; so does
``close()`` from another thread. M mutes (and unmutes) this process's sound cues.

``render_png`` draws one frame of a state headless (SDL's dummy video driver) for tests, docs
and ``buzzline viewer --render``.
"""

from __future__ import annotations

import collections
import contextlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pygame

from buzzline.hosttime import now_us
from buzzline.viewer.render import Renderer
from buzzline.viewer.scene import Scene
from buzzline.viewer.theme import DEFAULT, Theme

log = logging.getLogger("buzzline.viewer")

FPS = 60
SAMPLES = 4096  # frame and latency samples kept for the benchmark


class NoDisplay(RuntimeError):
    """SDL found no screen to draw on."""


# a notice stamped further back than this came from another machine's clock: timed from its post
STAMP_WINDOW_US = 10_000_000


def now_ms() -> float:
    return time.monotonic() * 1000.0


def init_pygame(headless: bool = False) -> None:
    """Initialise only what the viewer uses (display and fonts: no audio device is opened)."""
    if headless:
        os.environ["SDL_VIDEODRIVER"] = "dummy"
    pygame.display.init()
    pygame.font.init()


class ViewerWindow:
    def __init__(
        self,
        theme: Theme = DEFAULT,
        size: tuple[int, int] = (1920, 1080),
        fullscreen: bool = False,
        display: int = 0,
        title: str = "Buzzline",
    ) -> None:
        self.theme = theme
        self.size = size
        self.fullscreen = fullscreen
        self.display = display
        self.title = title
        self.scene = Scene()
        self._inbox: queue.SimpleQueue[tuple[int, Mapping[str, Any] | None, list[dict[str, Any]]]] = (
            queue.SimpleQueue()
        )
        self._audience: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self._stop = threading.Event()
        self.opened = threading.Event()
        self.closed = threading.Event()
        self.error: BaseException | None = None
        self.frame_ms: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        # the same frames in the window thread's CPU time: what a frame costs, without the time
        # other processes held the core
        self.frame_cpu_ms: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        # the notice's host time (or, from another machine's clock, the post) to the end of the
        # display update that showed it
        self.notice_to_pixels_ms: collections.deque[float] = collections.deque(maxlen=SAMPLES)
        self.frames = 0
        self._thread: threading.Thread | None = None
        self.on_close: Callable[[], None] | None = None  # called from the window's thread

    # ---- any thread ------------------------------------------------------------------------------
    def post(
        self,
        view: Mapping[str, Any] | None,
        events: Iterable[Mapping[str, Any]] = (),
        host_us: int | None = None,
    ) -> None:
        """Hand over a notice's view and events. ``host_us``: when the host emitted it (this
        machine's monotonic clock, as the host keeps it) for the latency figures."""
        now = now_us()
        stamp = host_us if host_us is not None and 0 <= now - host_us < STAMP_WINDOW_US else now
        self._inbox.put((stamp, view, [dict(e) for e in events]))

    def post_audience(self, info: dict[str, Any]) -> None:
        """Hand over the audience adapter's screen info (any thread, never blocks)."""
        self._audience.put(info)

    def close(self) -> None:
        self._stop.set()

    def start_thread(self) -> threading.Thread:
        """Run the window in its own thread (in the host: the event loop stays free)."""
        self._thread = threading.Thread(target=self.run, name="viewer-window", daemon=True)
        self._thread.start()
        return self._thread

    def join(self, timeout: float | None = None) -> None:
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the window's thread ---------------------------------------------------------------------
    def run(self) -> None:
        try:
            self._run()
        except (pygame.error, NoDisplay) as e:  # the screen, not a bug: no traceback
            self.error = e
            log.error("viewer window: %s", e)
        except Exception as e:
            self.error = e
            log.exception("viewer window failed")
        finally:
            self.closed.set()
            self.opened.set()  # nobody waits forever for a window that failed to open
            if self.on_close is not None:
                with contextlib.suppress(RuntimeError):  # the event loop already closed
                    self.on_close()

    def _open(self) -> pygame.Surface:
        init_pygame()
        driver = pygame.display.get_driver()
        if driver == "x11":
            # X's shared-memory copy of our software-drawn surface. SDL's default here is an
            # OpenGL texture, which without a GPU (Mesa's llvmpipe) cost ~50 ms per update.
            os.environ.setdefault("SDL_FRAMEBUFFER_ACCELERATION", "0")
        if driver in ("offscreen", "dummy") and os.environ.get("SDL_VIDEODRIVER") != driver:
            # SDL fell back to drawing nowhere: say so instead of running invisibly
            pygame.display.quit()
            raise NoDisplay("no display to open a window on")
        flags = pygame.FULLSCREEN if self.fullscreen else 0
        size = (0, 0) if self.fullscreen else self.size
        screen = pygame.display.set_mode(size, flags, display=self.display)
        pygame.display.set_caption(self.title)
        pygame.mouse.set_visible(not self.fullscreen)
        return screen

    def _run(self) -> None:
        screen = self._open()
        renderer = Renderer(screen, self.theme)
        clock = pygame.time.Clock()
        self.opened.set()
        try:
            while not self._stop.is_set():
                for event in pygame.event.get():
                    if event.type == pygame.QUIT or (
                        event.type == pygame.KEYDOWN and event.key in (pygame.K_ESCAPE, pygame.K_q)
                    ):
                        self._stop.set()
                    elif event.type == pygame.KEYDOWN and event.key == pygame.K_m:
                        from buzzline.sound.player import toggle_mute

                        log.warning("viewer: sound %s", "muted" if toggle_mute() else "on")
                    elif event.type in (pygame.VIDEORESIZE, pygame.WINDOWSIZECHANGED):
                        screen = pygame.display.get_surface()
                        renderer.surface = screen
                self.frame(renderer)
                clock.tick(FPS)
        finally:
            pygame.display.quit()

    def frame(self, renderer: Renderer, at_ms: float | None = None) -> list[pygame.Rect]:
        """One frame: take what was posted, advance the scene, draw and show what changed.
        ``at_ms``: the scene's time for this frame (default: now; the benchmark steps it)."""
        t0 = time.perf_counter()
        c0 = time.thread_time()
        now = now_ms() if at_ms is None else at_ms
        posted: list[int] = []
        while True:
            try:
                at, view, events = self._inbox.get_nowait()
            except queue.Empty:
                break
            posted.append(at)
            self.scene.apply_notice(view, events, now)
        while not self._audience.empty():
            self.scene.apply_audience(self._audience.get_nowait())
        self.scene.tick(now)
        dirty = renderer.draw(self.scene.snapshot(now))
        if dirty:
            pygame.display.update(dirty)
        t1 = time.perf_counter()
        self.frame_ms.append((t1 - t0) * 1000)
        self.frame_cpu_ms.append((time.thread_time() - c0) * 1000)
        end = now_us()
        for at in posted:
            self.notice_to_pixels_ms.append((end - at) / 1000)
        self.frames += 1
        return dirty


def render_png(
    view: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    out: str | Path,
    size: tuple[int, int] = (1920, 1080),
    theme: Theme = DEFAULT,
    at_ms: float = 10_000.0,
) -> pygame.Surface:
    """One frame of ``view`` (after ``events``) drawn headless and saved as PNG; the surface."""
    surface = render_surface(view, events, size, theme, at_ms)
    pygame.image.save(surface, str(out))
    return surface


def render_surface(
    view: Mapping[str, Any],
    events: Iterable[Mapping[str, Any]],
    size: tuple[int, int] = (1920, 1080),
    theme: Theme = DEFAULT,
    at_ms: float = 10_000.0,
    later_ms: float = 1000.0,
) -> pygame.Surface:
    """Draw ``view`` after ``events`` onto an off-screen surface as it looks ``later_ms`` after
    they arrived (timers drained that much, false starts shown until their lockout ends)."""
    if not pygame.font.get_init():
        init_pygame(headless=os.environ.get("SDL_VIDEODRIVER") in (None, "", "dummy"))
    scene = Scene()
    scene.apply_notice(view, events, at_ms)
    t = at_ms + later_ms
    scene.tick(t)
    surface = pygame.Surface(size)
    Renderer(surface, theme).draw(scene.snapshot(t))
    return surface
