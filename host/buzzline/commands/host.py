"""`buzzline host`: run the host game engine against a broker."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import sys
from collections.abc import Sequence

from buzzline.io.broker import parse_address

NAME = "host"
HELP = "run the host: MQTT bridge, fair arbiter, game engine and event log"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--broker", default="127.0.0.1:1883", help="broker HOST:PORT")
    p.add_argument("--studio", default="demo", help="studio namespace on the broker")
    p.add_argument("--show", help="show file (TOML); default: everyone who says hello plays")
    p.add_argument("--log", dest="log_path", help="event log (SQLite); resumes from it if it exists")
    p.add_argument("--user", help="broker username")
    p.add_argument("--password", help="broker password")
    p.add_argument("--http", type=int, default=None, help="serve the operator API on this port")
    p.add_argument("--token", default=None, help="operator token for the API (default: random, printed)")
    p.add_argument("--auto", action="store_true", help="run questions unattended (read, arm, judge, next)")
    p.add_argument("--seed", type=int, default=0)


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


async def _serve(args: argparse.Namespace) -> int:
    from buzzline.core.show import Show
    from buzzline.host_service import HostService
    from buzzline.showfile import load_show

    host, port = parse_address(args.broker)
    # Without a show file: everyone who says hello plays, and questions never run out.
    show = load_show(args.show) if args.show else dataclasses.replace(Show.default([]), rounds=())
    async with HostService(
        host,
        port,
        args.studio,
        show=show,
        log_path=args.log_path,
        username=args.user,
        password=args.password,
        seed=args.seed,
    ) as svc:
        print(f"buzzline host: studio {args.studio!r} on {host}:{port}", flush=True)
        servers = []
        if args.http:
            from buzzline.io.operator_api import serve_operator_api

            api = await serve_operator_api(svc, "127.0.0.1", args.http, args.token)
            servers.append(api)
            base = f"http://127.0.0.1:{args.http}"
            print(f"operator API on {base}/api (token {api.token}); docs {base}/api/docs", flush=True)
            print(f"console: {base}/console#token={api.token}", flush=True)
        if args.auto:
            from buzzline.commands.demo import play_questions

            await play_questions(svc, None, seconds=None)
        else:
            await asyncio.Event().wait()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.getLogger("buzzline").setLevel(logging.INFO)
    try:
        return asyncio.run(_serve(args))
    except KeyboardInterrupt:
        return 0
