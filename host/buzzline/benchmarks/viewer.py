"""`buzzline bench viewer`: the scoreboard's frame times and how long a notice takes to reach pixels.

- ``frame_ms.idle``: frames with nothing changing (the steady state between buzzes).
- ``frame_ms.animating``: the ring-in animation restarted every 700 ms, the answer timer draining
  and a false-start marker, so every frame redraws the panels and the timer.
- ``frame_ms.full``: a whole-screen redraw (the first frame, a resize).
- ``frame_cpu_ms``: the same frames in CPU time of the drawing thread (what the frame costs,
  without the time other processes held the core: the figure that holds on a shared machine).
- ``notice_to_pixels_ms``: a notice published on a real ``NoticeBus``, through the ``viewer``
  adapter run by the ``AdapterManager`` (as in the host) to the window's thread, until the display
  update that shows it ends. The window runs at its real 60 Hz pace, so this includes the wait for
  the next frame.
- ``standalone_notice_to_pixels_ms``: the standalone path (``buzzline viewer --broker``): a
  ``game/state`` message and a ``winner`` event published on a private Mosquitto, read by the remote
  feed, through the same adapter and window, from the event's publish to the pixels. Left out, with
  the reason, where Mosquitto is missing.
- ``overlay_notice_to_dom_ms``: a notice published on a notice bus served by the overlay's routes
  (uvicorn on loopback), until Debian's Chromium (headless, driven by Playwright) shows the new
  winner's name in the page (Playwright polls once per animation frame, so up to 16.7 ms of it is
  the polling). Left out, with the reason, where ``/usr/bin/chromium`` is missing.

One frame = take what was posted, advance the scene, draw the changed regions, update the display.
Frames run back to back, each drawing the scene as it stands one 60 Hz frame (16.7 ms) after the
last, at the size given, on whatever SDL video driver is set (``dummy`` when there is no display:
drawing is measured, the copy to a screen is not).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from buzzline.hosttime import now_us

NAME = "viewer"
HELP = "scoreboard frame times (idle, animating) at 1920x1080 and notice-to-pixels latency"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size", default="1920x1080", help="screen size WxH")
    parser.add_argument("--podiums", type=int, default=8, help="players on the board (1-16)")
    parser.add_argument("--frames", type=int, default=600, help="frames per measurement")
    parser.add_argument("--notices", type=int, default=200, help="notices for notice_to_pixels_ms")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")


def _summary(values: list[float]) -> dict[str, Any]:
    from buzzline.benchmarks._stats import percentile

    return {
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3) if values else None,
        "over_33ms": sum(1 for v in values if v > 33.0),
        "n": len(values),
    }


def frame_times(size: tuple[int, int], podiums: int, frames: int) -> dict[str, Any]:
    import pygame

    from buzzline.viewer.demo import demo_state
    from buzzline.viewer.render import Renderer
    from buzzline.viewer.scene import RING_MS, state_events
    from buzzline.viewer.window import ViewerWindow, now_ms

    clock = [now_ms()]

    def tick() -> float:  # the scene's time advances one 60 Hz frame per frame drawn
        clock[0] += 1000 / 60
        return clock[0]

    view, events = state_events(demo_state(podiums))
    win = ViewerWindow(size=size)
    screen = win._open()
    wall: dict[str, list[float]] = {"idle": [], "animating": [], "full": []}
    cpu: dict[str, list[float]] = {"idle": [], "animating": [], "full": []}

    def frame(kind: str) -> None:
        c0, t0 = time.thread_time(), time.perf_counter()
        win.frame(renderer, tick())
        wall[kind].append((time.perf_counter() - t0) * 1000)
        cpu[kind].append((time.thread_time() - c0) * 1000)

    try:
        renderer = Renderer(screen, win.theme)
        win.post(view, ())
        for _ in range(max(10, frames // 20)):
            renderer.layout = None  # forces the whole screen, as a resize does
            frame("full")
        # idle: the state without its events (no timer running, no animation)
        win.frame(renderer, tick())
        for _ in range(frames):
            frame("idle")
        # animating: the ring-in, the answer timer and a false start, all the time
        win.post(view, events)
        win.frame(renderer, tick())
        scene = win.scene
        for _ in range(frames):
            now = clock[0] + 1000 / 60
            if scene.rung_at is None or now - scene.rung_at >= RING_MS:
                scene.rung_at = now
            if scene.timer is None or now - scene.timer[1] > 0.9 * scene.timer[2]:
                scene.apply_event({"k": "timer_started", "timer": "answer", "ms": 8000}, now)
            if not scene.false_starts:
                scene.apply_event({"k": "false_start", "podium": "p2", "lockout_ms": 300}, now)
            frame("animating")
        driver = pygame.display.get_driver()
    finally:
        pygame.display.quit()
    return {
        "driver": driver,
        "frame_ms": {k: _summary(v) for k, v in wall.items()},
        "frame_cpu_ms": {k: _summary(v) for k, v in cpu.items()},
    }


Publish = Callable[[int, dict[str, Any]], Awaitable[None]]


async def _window_latency(
    bus: Any, view: dict[str, Any], publish: Publish, size: tuple[int, int], notices: int, seed: int
) -> list[float]:
    """The ``viewer`` adapter on ``bus`` under the adapter runner; ``publish(n, view)`` sends notice
    ``n`` (a new winner each time) by whatever path is measured; the window's latency figures."""
    from buzzline.adapters.api import CommandResult, Status, as_view
    from buzzline.adapters.runner import AdapterManager
    from buzzline.viewer.adapter import ViewerAdapter

    rng = random.Random(seed)

    async def command(name: str, **args: Any) -> CommandResult:
        return CommandResult(False, "read-only benchmark")

    manager = AdapterManager(bus, lambda: as_view(view), command, kinds={"viewer": ViewerAdapter})
    inst = await manager.add("bench", "viewer", {"width": size[0], "height": size[1]})
    try:
        async with asyncio.timeout(15):
            while inst.status is not Status.OK:
                if inst.status is Status.ERROR:
                    raise RuntimeError(inst.message)
                await asyncio.sleep(0.01)
        adapter = inst.adapter
        assert isinstance(adapter, ViewerAdapter) and adapter.window is not None
        window = adapter.window
        await asyncio.sleep(0.2)  # the start-up notice is on screen
        window.notice_to_pixels_ms.clear()
        pids = list(view["info"]["podiums"])
        for n in range(notices):
            winner = pids[n % len(pids)]
            v = dict(view, winner=winner, q=view["q"] + n + 1)
            v["info"] = dict(view["info"], winner_player=view["info"]["podiums"][winner]["player"])
            await publish(n + 1, v)
            await asyncio.sleep(rng.uniform(0.03, 0.07))
        async with asyncio.timeout(5):
            while len(window.notice_to_pixels_ms) < notices:
                await asyncio.sleep(0.02)
        return list(window.notice_to_pixels_ms)[-notices:]
    finally:
        await manager.close()


async def notice_latency(size: tuple[int, int], podiums: int, notices: int, seed: int) -> dict[str, Any]:
    """In the host: notices published on the host's kind of notice bus."""
    from buzzline.adapters.api import Notice
    from buzzline.core.contract import as_view
    from buzzline.notices import NoticeBus
    from buzzline.viewer.demo import demo_state
    from buzzline.viewer.scene import state_events

    view, events = state_events(demo_state(podiums))
    bus = NoticeBus()

    async def publish(n: int, v: dict[str, Any]) -> None:
        bus.publish(Notice(n, now_us(), tuple(events), as_view(v)))

    return {"notice_to_pixels_ms": _summary(await _window_latency(bus, view, publish, size, notices, seed))}


async def standalone_latency(size: tuple[int, int], podiums: int, notices: int, seed: int) -> dict[str, Any]:
    """Standalone: ``game/state`` and a ``winner`` event published on a private Mosquitto, read by
    the remote feed (``buzzline viewer --broker``); timed from the event's publish."""
    import aiomqtt
    from buzzline_protocol import codec, topics

    from buzzline.adapters.remote import RemoteFeed
    from buzzline.io.broker import MosquittoBroker, find_mosquitto
    from buzzline.viewer.demo import demo_state
    from buzzline.viewer.scene import state_events

    if find_mosquitto() is None:
        return {"standalone_notice_to_pixels_ms": None, "standalone_skipped": "mosquitto is not installed"}
    view, _ = state_events(demo_state(podiums))
    broker = MosquittoBroker()
    broker.start()
    try:
        feed = RemoteFeed(broker.host, broker.port, "bench")
        task = asyncio.create_task(feed.run())
        try:
            async with aiomqtt.Client(broker.host, broker.port) as client:
                await asyncio.wait_for(feed.connected.wait(), 10)

                async def publish(n: int, v: dict[str, Any]) -> None:
                    ts = now_us()
                    state = {**v, "t": "state", "ts": ts}
                    await client.publish(topics.game_state("bench"), codec.encode(state), qos=1, retain=True)
                    d = {"podium": v["winner"], "player": v["info"]["winner_player"]}
                    event = {"t": "event", "n": n, "i": 0, "of": 1, "ts": ts, "k": "winner", "d": d}
                    await client.publish(topics.game_events("bench"), codec.encode(event), qos=1)

                times = await _window_latency(feed.bus, view, publish, size, notices, seed)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    finally:
        broker.stop()
    return {"standalone_notice_to_pixels_ms": _summary(times)}


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


async def overlay_latency(podiums: int, notices: int, seed: int) -> dict[str, Any]:
    from pathlib import Path

    if not Path(CHROMIUM).exists():
        return {"overlay_notice_to_dom_ms": None, "overlay_skipped": f"{CHROMIUM} is not installed"}
    from playwright.async_api import async_playwright

    from buzzline.adapters.api import Notice
    from buzzline.commands.viewer import _serve_overlay
    from buzzline.core.contract import as_view
    from buzzline.io.broker import free_port
    from buzzline.notices import NoticeBus
    from buzzline.viewer.demo import demo_state
    from buzzline.viewer.scene import state_events
    from buzzline.viewer.theme import DEFAULT

    rng = random.Random(seed)
    view, _ = state_events(demo_state(podiums))
    bus = NoticeBus()
    bus.publish(Notice(0, 0, (), as_view(view)))
    port = free_port()
    server, task = await _serve_overlay(bus, DEFAULT, "127.0.0.1", port)
    times: list[float] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = await browser.new_page(viewport={"width": 1920, "height": 1080})
                await page.goto(f"http://127.0.0.1:{port}/overlay?layout=lowerthird")
                await page.wait_for_function("document.body.dataset.link === 'up'", timeout=10_000)
                pids = [f"p{i + 1}" for i in range(podiums)]
                for n in range(notices):
                    winner = pids[n % len(pids)]
                    name = view["info"]["podiums"][winner]["player"]
                    v = dict(view, winner=winner, q=view["q"] + n + 1)
                    v["info"] = dict(view["info"], winner_player=name)
                    t0 = time.perf_counter()
                    bus.publish(Notice(n + 1, now_us(), (), as_view(v)))
                    await page.wait_for_function(
                        "n => document.getElementById('winner-name').textContent === n",
                        arg=name,
                        timeout=10_000,
                    )
                    times.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(rng.uniform(0.03, 0.07))
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        bus.close()
        await asyncio.wait_for(task, 5)
    return {"overlay_notice_to_dom_ms": _summary(times)}


def run_viewer(size: tuple[int, int], podiums: int, frames: int, notices: int, seed: int) -> dict[str, Any]:
    import logging

    # the watchdog would name the viewer for loop lag that other processes on the machine cause
    logging.getLogger("buzzline.adapters").setLevel(logging.ERROR)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    import pygame

    if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    out: dict[str, Any] = {
        "size": list(size),
        "podiums": podiums,
        **frame_times(size, podiums, frames),
        **asyncio.run(notice_latency(size, podiums, notices, seed)),
        **asyncio.run(standalone_latency(size, podiums, notices, seed)),
        **asyncio.run(overlay_latency(podiums, min(notices, 100), seed)),
        "pygame": pygame.version.ver,
        "sdl": ".".join(map(str, pygame.get_sdl_version())),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    return out


def run(args: argparse.Namespace) -> int:
    import sys

    from buzzline.commands.viewer import UsageError, parse_size

    try:
        size = parse_size(args.size)
    except UsageError as e:
        print(f"buzzline bench viewer: {e}", file=sys.stderr)
        return 2
    if not 1 <= args.podiums <= 16 or args.frames < 10 or args.notices < 1:
        print(
            "buzzline bench viewer: --podiums 1-16, --frames at least 10, --notices at least 1",
            file=sys.stderr,
        )
        return 2
    result = run_viewer(size, args.podiums, args.frames, args.notices, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for fig in ("frame_ms", "frame_cpu_ms"):
            for k in ("idle", "animating", "full"):
                s = result[fig][k]
                label = f"{'frame' if fig == 'frame_ms' else 'cpu'} {k}"
                print(f"{label:17s} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms  max {s['max']:7.3f} ms")
        n = result["notice_to_pixels_ms"]
        print(f"notice to pixels  p50 {n['p50']:7.3f} ms  p99 {n['p99']:7.3f} ms  max {n['max']:7.3f} ms")
        m = result["standalone_notice_to_pixels_ms"]
        if m is None:
            print(f"standalone: skipped ({result['standalone_skipped']})")
        else:
            print(f"over MQTT         p50 {m['p50']:7.3f} ms  p99 {m['p99']:7.3f} ms  max {m['max']:7.3f} ms")
        o = result["overlay_notice_to_dom_ms"]
        if o is None:
            print(f"overlay: skipped ({result['overlay_skipped']})")
        else:
            print(f"overlay to DOM    p50 {o['p50']:7.3f} ms  p99 {o['p99']:7.3f} ms  max {o['max']:7.3f} ms")
        print(
            f"({result['size'][0]}x{result['size'][1]}, {result['podiums']} podiums, SDL {result['driver']})"
        )
    return 0
