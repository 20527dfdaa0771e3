"""`buzzline host`: run the host game engine against a broker."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from buzzline.commands._common import (
    add_broker_arguments,
    api_socket,
    broker_address,
    check_log_path,
    read_credentials,
    studio_credentials,
)
from buzzline.errors import UserError, port_number, studio_name
from buzzline.preflight import Finding, adapter_findings, broker_findings, errors, show_findings

NAME = "host"
HELP = "run the host: MQTT bridge, fair arbiter, game engine and event log"


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_broker_arguments(p)
    p.add_argument(
        "--studio",
        default=None,
        type=studio_name,
        help="studio name (default demo, or that of --credentials)",
    )
    p.add_argument("--show", help="show file (TOML); default: everyone who says hello plays")
    p.add_argument("--log", dest="log_path", help="event log (SQLite); resumes from it if it exists")
    p.add_argument(
        "--http", type=port_number, default=None, help="serve the operator API and console on this port"
    )
    p.add_argument(
        "--bind",
        default="127.0.0.1",
        metavar="ADDR",
        help="address --http listens on (default 127.0.0.1; 0.0.0.0 for Companion or OBS on other machines)",
    )
    p.add_argument(
        "--token",
        default=None,
        help="operator token for the API and console; give one to keep it across restarts "
        "(default: a new random one each start, printed)",
    )
    p.add_argument("--auto", action="store_true", help="run questions unattended (read, arm, judge, next)")
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the tie-break draws (a tie the show breaks at random): the same seed draws the same "
        "way again, as a replay of the event log does (default 0)",
    )
    p.add_argument("--quiet", action="store_true", help="no line per decision and false start")
    p.add_argument(
        "--strict",
        action="store_true",
        help="refuse to start on any problem the pre-show check finds, warnings too",
    )
    p.add_argument(
        "--start-anyway",
        action="store_true",
        help="start even when the pre-show check finds errors (they stay listed in the console)",
    )


def command_line(
    broker: str,
    studio: str,
    *,
    http: int | None = None,
    token: str | None = None,
    log: str | None = None,
    python_args: Sequence[str] = (),
) -> list[str]:
    """The argv that runs `buzzline host` in a child process (benchmarks, tests, supervisors)."""
    argv = [
        sys.executable,
        *python_args,
        "-m",
        "buzzline.cli",
        "host",
        "--broker",
        broker,
        "--studio",
        studio,
    ]
    if http is not None:
        argv += ["--http", str(http)]
    if token is not None:
        argv += ["--token", token]
    if log is not None:
        argv += ["--log", log]
    return argv


def host_login(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The host's broker account: --user/--password, else the host account of --credentials."""
    sec = studio_credentials(args)
    if sec is None or args.user:
        return args.user, args.password
    return sec.host.username, sec.host.password


async def _serve(args: argparse.Namespace) -> int:
    from buzzline.core.show import Show
    from buzzline.host_service import HostService
    from buzzline.io.reach import wait_for_broker
    from buzzline.showfile import load_show

    host, port = broker_address(args.broker)
    user, password = host_login(args)
    # Everything the user gave is checked before anything starts: show, API port, broker.
    # Without a show file: everyone who says hello plays, and questions never run out.
    show = load_show(args.show) if args.show else dataclasses.replace(Show.default([]), rounds=())
    if args.log_path:
        check_log_path(args.log_path)
    # the pre-show check (`buzzline check`): what loads but would go wrong on air
    found = show_findings(show, args.show) + await adapter_findings(show.adapters) if args.show else []
    async with contextlib.AsyncExitStack() as stack:
        sock = api_socket(args.http, args.bind) if args.http else None
        if sock is not None:
            stack.callback(sock.close)
        if args.credentials is not None:  # the other accounts in the file, and the show's podiums
            await wait_for_broker(host, port, user, password, wait=args.wait)
            found += await broker_findings(
                host, port, user, password, read_credentials(args.credentials), show
            )
        refuse_or_say(found, strict=args.strict, anyway=args.start_anyway)
        await wait_for_broker(host, port, user, password, wait=args.wait)
        service = HostService(
            host, port, args.studio, show=show, log_path=args.log_path, username=user, password=password,
            seed=args.seed,
        )  # fmt: skip
        service.preflight.found = found
        try:
            svc = await stack.enter_async_context(service)
        except TimeoutError:
            raise UserError(f"broker {host}:{port}", "the host could not connect within 10 s") from None
        print(f"buzzline host: studio {args.studio!r} on {host}:{port}", flush=True)
        if not args.quiet:
            printer = svc.supervise("host-terminal", lambda: print_decisions(svc))
            stack.push_async_callback(svc.end, printer)
        if sock is not None:
            from buzzline.web.app import serve_operator_api

            api = await serve_operator_api(svc, args.bind, args.http, args.token, sock=sock)
            stack.push_async_callback(api.close)
            base = f"http://{shown_address(args.bind)}:{args.http}"
            print(
                f"operator API: GET {base}/api/state; POST {base}/api/command; docs {base}/api/docs",
                flush=True,
            )
            print(f"console: {base}/console#token={api.token}  (the operator token follows '#')", flush=True)
        if args.auto:
            from buzzline.commands.demo import play_questions

            await play_questions(svc, None, seconds=None)
        else:
            await svc.wait_stopped()
        if svc.failed is not None:
            # the service stopped itself: a part of it died (logged above with its traceback)
            print(f"buzzline host: stopped: {type(svc.failed).__name__}: {svc.failed}", file=sys.stderr)
            return 1
    return 0


def refuse_or_say(found: list[Finding], *, strict: bool, anyway: bool) -> None:
    """Print the pre-show check's findings; refuse to start on an error in the show's own settings
    (unless ``anyway``), or on any finding with ``strict``. A peer that is not there yet (a desk
    switched on later, a DMX interface plugged in later: the adapters reconnect by themselves)
    or a card without its answer is listed, not refused."""
    for f in found:
        print(f"buzzline host: {f.line()}", file=sys.stderr, flush=True)
    bad = errors(found, blocking_only=True)
    if (bad and not anyway) or (found and strict):
        n = len(found) if strict else len(bad)
        what = "problem" if strict else "error"
        hint = "fix it, see `buzzline check SHOW`" + (
            "" if strict else "; --start-anyway starts all the same"
        )
        raise UserError(
            "host", f"not started: the pre-show check found {n} {what}{'s' if n > 1 else ''}", hint
        )


def shown_address(bind: str) -> str:
    """An address to print for a listener on ``bind`` (a wildcard is reached on this machine as
    loopback; other machines use this machine's name or address)."""
    if bind in ("0.0.0.0", "", "::"):
        return "127.0.0.1"
    return f"[{bind}]" if ":" in bind else bind


def _say(line: str) -> None:
    print(line, flush=True)


async def print_decisions(svc: Any, out: Callable[[str], None] = _say) -> None:
    """One line per decision and per false start, from the host's notices (never blocks a decision:
    the bus drops this reader's oldest notices if the terminal falls behind)."""
    from buzzline.narrate import event_line

    sub = svc.notices.subscribe("terminal", replay_latest=False)
    try:
        async for notice in sub:
            ties = notice.of("tie")
            for e in notice.events:
                if e.get("k") == "winner" and ties:
                    e = {**e, "tied": ties[0].get("podiums", [])}
                line = event_line(e)
                if line is not None:
                    out(f"Q{notice.view.get('q')}: {line}")
    finally:
        svc.notices.unsubscribe(sub)  # a restarted printer reads a queue of its own


def run(args: argparse.Namespace) -> int:
    logging.getLogger("buzzline").setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
