"""`buzzline adapter run KIND`: run one adapter anywhere on the studio network.

It reads the show from the broker (``game/state``, ``game/events``, ``host/presence``; the broker's
read-only ``adapter`` role is enough) and sends its commands through the operator HTTP API.
The adapter code is the same that runs inside the host.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tomllib
from pathlib import Path
from typing import Any

from buzzline.commands._common import add_broker_arguments, broker_address, studio_credentials
from buzzline.errors import studio_name

NAME = "adapter"
HELP = "run one adapter standalone, fed from the broker (commands through the operator API)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="adapter_cmd", metavar="ACTION", required=True)
    r = sub.add_parser("run", help="run an adapter of KIND until Ctrl-C", description=__doc__)
    r.add_argument("kind", help="adapter kind (see: buzzline adapters list)")
    add_broker_arguments(r)
    r.add_argument(
        "--studio",
        default=None,
        type=studio_name,
        help="studio name (default demo, or that of --credentials)",
    )
    r.add_argument("--config", type=Path, help="TOML file with the adapter's settings (top-level keys)")
    r.add_argument("--name", help="instance name for logs (default: the kind)")
    r.add_argument("--api", help="operator API base URL for commands, e.g. http://host:8080")
    r.add_argument("--token", help="operator token for --api")


def adapter_login(args: argparse.Namespace) -> tuple[str | None, str | None]:
    """The broker account: --user/--password, else the adapter account of --credentials (the
    viewer's in files written before adapters had their own)."""
    sec = studio_credentials(args)
    if sec is None or args.user:
        return args.user, args.password
    account = sec.adapter or sec.viewer
    return account.username, account.password


def _settings(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{path}: cannot read: {e.strerror or e}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid TOML: {e}") from e


async def _run(args: argparse.Namespace, settings: dict[str, Any]) -> int:
    from buzzline.adapters.api import Status
    from buzzline.adapters.remote import HttpCommands, RemoteFeed
    from buzzline.adapters.runner import AdapterManager
    from buzzline.io.reach import wait_for_broker

    host, port = broker_address(args.broker)
    user, password = adapter_login(args)
    # a broker that is down or refuses this account is told now, not by a silent adapter
    await wait_for_broker(host, port, user, password, wait=args.wait)
    feed = RemoteFeed(host, port, args.studio, user, password)
    manager = AdapterManager(feed.bus, feed.view, HttpCommands(args.api, args.token))
    name = args.name or args.kind
    inst = await manager.add(name, args.kind, settings)
    if inst.status is Status.BAD_CONFIG:
        await manager.close()
        print(f"buzzline adapter run: {args.kind}: bad settings: {inst.message}", file=sys.stderr)
        return 2
    feeder = asyncio.create_task(feed.run(), name="remote-feed")
    print(f"adapter {name} ({args.kind}) on studio {args.studio!r} via {host}:{port}", flush=True)
    last = None
    link: tuple[bool, bool] | None = None
    try:
        while True:
            now = (inst.status, inst.message)
            if now != last:
                print(f"adapter {name}: {now[0]}{': ' + now[1] if now[1] else ''}", flush=True)
                last = now
            # the adapter's own status is its peer's; the show reaching it is said apart
            if (feed.broker_up, feed.host_up) != link and (link is not None or feed.broker_up):
                link = (feed.broker_up, feed.host_up)
                said = "connected" if link[0] else "lost (reconnecting)"
                host_said = "running" if link[1] else "not running (no game state yet)"
                print(f"adapter {name}: broker {host}:{port} {said}; host {host_said}", flush=True)
            await asyncio.sleep(0.25)
    finally:
        feeder.cancel()
        await manager.close()


def run(args: argparse.Namespace) -> int:
    from buzzline.adapters.runner import AdapterError

    logging.getLogger("buzzline").setLevel(logging.INFO)
    try:
        settings = _settings(args.config)
        return asyncio.run(_run(args, settings))
    except (ValueError, AdapterError) as e:
        print(f"buzzline adapter run: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 0
