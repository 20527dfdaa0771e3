"""`buzzline viewer`: the scoreboard window and the OBS overlay, on any machine of the studio.

    buzzline viewer --broker HOST:PORT --studio S [--user U --password P] [--fullscreen]
                    [--display N] [--theme FILE] [--web PORT [--bind ADDR]] [--no-window]
    buzzline viewer --render STATE.json --out FILE.png [--size 1920x1080] [--theme FILE]
    buzzline viewer --state STATE.json [--web PORT]       # a fixed state, no broker (design, docs)
    buzzline viewer --demo-state FILE [--podiums N] [--teams]

Live, it reads ``game/state``, ``game/events`` and ``host/presence`` (read-only: the broker's
viewer or adapter account is enough). Esc, Q or closing the window quits. With the window, the
show's sound cues play too (the ``sound`` adapter, with the theme's sound set); M mutes them,
``--mute`` starts muted, ``--no-sound`` leaves the audio device alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
from pathlib import Path
from typing import Any

from buzzline.errors import studio_name

NAME = "viewer"
HELP = "the scoreboard window (pygame) and the OBS overlay, standalone"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", help="broker HOST:PORT to follow a live show")
    p.add_argument("--studio", default="demo", type=studio_name, help="studio namespace on the broker")
    p.add_argument("--user", help="broker username (the viewer or adapter account)")
    p.add_argument("--password", help="broker password")
    p.add_argument("--fullscreen", action="store_true", help="fill the screen")
    p.add_argument("--display", type=int, default=0, help="which screen, 0 for the first")
    p.add_argument("--theme", help="theme file (TOML)")
    p.add_argument("--size", default="1920x1080", help="window or image size WxH (default 1920x1080)")
    p.add_argument("--web", type=int, default=None, metavar="PORT", help="also serve the OBS overlay on PORT")
    p.add_argument("--bind", default="127.0.0.1", help="address the overlay listens on (default 127.0.0.1)")
    p.add_argument("--no-window", action="store_true", help="no scoreboard window (with --web: overlay only)")
    p.add_argument(
        "--audience",
        metavar="URL",
        help="the host's web address (http://HOST:8080): show its audience's join code and results",
    )
    p.add_argument("--no-sound", action="store_true", help="no sound cues (the window plays them by default)")
    p.add_argument("--mute", action="store_true", help="start with the sound cues muted (M toggles)")
    p.add_argument("--render", metavar="STATE.json", help="draw one frame of this state headless and exit")
    p.add_argument("--out", metavar="FILE.png", help="where --render writes the frame")
    p.add_argument("--state", metavar="STATE.json", help="show this fixed state instead of a live show")
    p.add_argument(
        "--demo-state", metavar="FILE", help="write a demo state (made by the game engine) and exit"
    )
    p.add_argument("--podiums", type=int, default=6, help="players in the demo state (1-16)")
    p.add_argument("--teams", action="store_true", help="the demo state plays in two teams")


class UsageError(Exception):
    pass


def parse_size(text: str) -> tuple[int, int]:
    w, sep, h = text.lower().partition("x")
    try:
        size = (int(w), int(h))
    except ValueError:
        raise UsageError(f"--size {text!r}: expected WIDTHxHEIGHT, like 1920x1080") from None
    if not sep or not (160 <= size[0] <= 7680 and 120 <= size[1] <= 4320):
        raise UsageError(f"--size {text!r}: expected WIDTHxHEIGHT between 160x120 and 7680x4320")
    return size


def read_state(path: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from buzzline.viewer.scene import state_events

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise UsageError(f"{path}: not JSON: {e}") from None
    try:
        return state_events(doc)
    except ValueError as e:
        raise UsageError(f"{path}: {e}") from None


def _theme(path: str | None) -> Any:
    from buzzline.viewer.theme import DEFAULT, ThemeError, load_theme

    if not path:
        return DEFAULT
    try:
        return load_theme(path)
    except ThemeError as e:
        raise UsageError(str(e)) from None


def _check_sounds(theme: Any) -> None:
    """The theme's sound files decode (a broken one is a mistake to name before the window opens)."""
    from buzzline.adapters.sound import check_files
    from buzzline.sound.cues import parse_cues

    problem = check_files(parse_cues(theme.sounds), where="sounds")
    if problem is not None:
        raise UsageError(f"{theme.source}: {problem[0]}: {problem[1]}")


def _check(args: argparse.Namespace) -> None:
    modes = [m for m in ("render", "demo_state") if getattr(args, m)]
    if len(modes) > 1:
        raise UsageError("--render and --demo-state are separate runs: give one")
    if args.render and not args.out:
        raise UsageError("--render needs --out FILE.png")
    if args.out and not args.render:
        raise UsageError("--out goes with --render STATE.json")
    if not modes and not args.broker and not args.state:
        raise UsageError(
            "give --broker HOST:PORT (a live show), --state FILE, --render FILE or --demo-state FILE"
        )
    if args.broker and args.state:
        raise UsageError("--broker and --state are two sources: give one")
    if args.no_window and args.web is None and not modes:
        raise UsageError("--no-window without --web would show nothing")
    if args.audience and not args.audience.startswith(("http://", "https://")):
        raise UsageError(f"--audience {args.audience}: give the host's web address, e.g. http://host:8080")
    if args.web is not None:
        if not 0 < args.web < 65536:
            raise UsageError(f"--web {args.web}: not a port")
        why = port_free(args.bind, args.web)
        if why is not None:
            raise UsageError(f"--web {args.web}: cannot listen on {args.bind}:{args.web}: {why}")
    if not 1 <= args.podiums <= 16:
        raise UsageError("--podiums must be 1 to 16")
    if args.display < 0:
        raise UsageError("--display must be 0 or more")
    if not (args.render or args.demo_state or args.no_window) and not display_available():
        raise UsageError(
            "no display to open a window on (set DISPLAY, or SDL_VIDEODRIVER=kmsdrm on a console; "
            "--no-window --web PORT serves the overlay alone)"
        )


def display_available(env: dict[str, str] | None = None) -> bool:
    """Whether SDL can open a window here: told before pygame starts, whose video probes print
    their own lines on stderr when there is none."""
    env = dict(os.environ) if env is None else env
    if env.get("SDL_VIDEODRIVER"):
        return True  # the user chose a driver; pygame says if it fails
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return True
    return any(Path("/dev/dri").glob("card*"))  # kmsdrm on a console


def run(args: argparse.Namespace) -> int:
    try:
        _check(args)
        size = parse_size(args.size)
        theme = _theme(args.theme)
        if args.demo_state:
            from buzzline.viewer.demo import demo_state

            text = json.dumps(demo_state(args.podiums, args.teams), indent=1, ensure_ascii=False) + "\n"
            try:
                Path(args.demo_state).write_text(text, encoding="utf-8")
            except OSError as e:
                raise UsageError(f"{args.demo_state}: cannot write: {e.strerror}") from None
            print(f"wrote {args.demo_state}")
            return 0
        if args.render:
            view, events = read_state(args.render)
            from buzzline.viewer.window import init_pygame, render_png

            init_pygame(headless=True)
            try:
                render_png(view, events, args.out, size, theme)
            except Exception as e:  # pygame.error: an unwritable path, an unknown extension
                raise UsageError(f"{args.out}: cannot write the image: {e}") from None
            print(f"wrote {args.out} ({size[0]}x{size[1]})")
            return 0
        if args.broker and not args.no_sound and not args.no_window:
            _check_sounds(theme)
        fixed = read_state(args.state) if args.state else None
        broker = None
        if args.broker:
            from buzzline.io.broker import parse_address

            try:
                broker = parse_address(args.broker)
            except ValueError as e:
                raise UsageError(str(e)) from None
    except UsageError as e:
        print(f"buzzline viewer: {e}", file=sys.stderr)
        return 2
    logging.getLogger("buzzline").setLevel(logging.WARNING)
    try:
        return asyncio.run(_live(args, size, theme, broker, fixed))
    except KeyboardInterrupt:
        return 0


async def _live(
    args: argparse.Namespace,
    size: tuple[int, int],
    theme: Any,
    broker: tuple[str, int] | None,
    fixed: tuple[dict[str, Any], list[dict[str, Any]]] | None,
) -> int:
    """The window is the ``viewer`` adapter, run as ``buzzline adapter run viewer`` runs it: fed
    from the broker (or a fixed state); the overlay reads the same notice bus."""
    from buzzline.adapters.api import Notice, Status
    from buzzline.adapters.remote import HttpCommands, RemoteFeed
    from buzzline.adapters.runner import AdapterManager
    from buzzline.core.contract import GameView, as_view
    from buzzline.notices import NoticeBus

    feed = None
    if broker is not None:
        feed = RemoteFeed(broker[0], broker[1], args.studio, args.user, args.password)
        bus = feed.bus
        view = feed.view
    else:
        still = fixed or ({}, [])
        bus = NoticeBus()
        bus.publish(Notice(1, 0, tuple(still[1]), as_view(still[0])))

        def view() -> GameView:
            return as_view(still[0])

    manager = AdapterManager(bus, view, HttpCommands(None, None))
    tasks: list[asyncio.Task[Any]] = []
    server: tuple[Any, asyncio.Task[None]] | None = None
    try:
        if args.web is not None:
            server = await _serve_overlay(bus, theme, args.bind, args.web)
            url = f"http://{args.bind}:{args.web}/overlay"
            print(f"overlay: {url}  (?layout=lowerthird|scoreboard|winner)", flush=True)
        if feed is not None:
            tasks.append(asyncio.create_task(feed.run(), name="viewer-feed"))
            print(f"viewer: following studio {args.studio!r} on {args.broker}", flush=True)
        if args.audience:
            from buzzline.viewer.audience_feed import follow

            tasks.append(asyncio.create_task(follow(args.audience), name="viewer-audience"))
        if args.no_window:
            await asyncio.Event().wait()
            return 0
        settings = {
            "fullscreen": args.fullscreen,
            "display": args.display,
            "theme": args.theme or "",
            "width": size[0],
            "height": size[1],
        }
        # the first failure ends this command with one line; the runner's traceback is for hosts
        logging.getLogger("buzzline.adapters").setLevel(logging.CRITICAL)
        logging.getLogger("buzzline.viewer").setLevel(logging.CRITICAL)
        inst = await manager.add("viewer", "viewer", settings)
        sound = None
        if feed is not None and not args.no_sound:  # a live show: a still state plays nothing
            cues = {"cues": theme.sounds, "muted": args.mute}
            sound = await manager.add("sound", "sound", cues)
        while True:
            if sound is not None and sound.status in (Status.ERROR, Status.BAD_CONFIG):
                # the show goes on without sound: one line, no retries against a missing card
                message = sound.message.removeprefix("SoundError: ")
                print(f"buzzline viewer: sound off: {message} (--no-sound hides this)", file=sys.stderr)
                await manager.remove("sound")
                sound = None
            if inst.status is Status.ERROR:
                hint = "set DISPLAY, or SDL_VIDEODRIVER=kmsdrm on a console"
                message = inst.message.removeprefix("WindowError: ")
                print(f"buzzline viewer: {message} ({hint})", file=sys.stderr)
                return 2
            if inst.status is Status.DISCONNECTED:  # Esc, or the window was closed
                return 0
            await asyncio.sleep(0.1)
    finally:
        await manager.close()
        for t in tasks:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await t
        bus.close()
        if server is not None:
            server[0].should_exit = True
            with contextlib.suppress(Exception):
                await asyncio.wait_for(server[1], 5)


def port_free(bind: str, port: int) -> str | None:
    """None when ``bind:port`` can be listened on, else why not (checked before uvicorn, which
    would exit the process on its own)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in bind else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((bind, port))
    except OSError as e:
        return e.strerror or str(e)
    return None


async def _serve_overlay(bus: Any, theme: Any, bind: str, port: int) -> tuple[Any, asyncio.Task[None]]:
    import uvicorn
    from starlette.applications import Starlette

    from buzzline.web.overlay import Overlay

    app = Starlette(routes=Overlay(bus, theme).routes)
    config = uvicorn.Config(
        app, host=bind, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="viewer-web")
    while not server.started:
        if task.done():
            task.result()
            raise OSError(f"cannot serve the overlay on {bind}:{port}")
        await asyncio.sleep(0.01)
    return server, task
