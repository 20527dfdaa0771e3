"""`buzzline check SHOW.toml`: the pre-show check, one line per problem, exit status 2 on errors."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from typing import Any

from buzzline.commands._common import add_broker_arguments, broker_address, studio_credentials
from buzzline.errors import EXIT_USAGE, UserError, studio_name

NAME = "check"
HELP = "the pre-show check: show file, adapters and their peers, broker accounts, podiums"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("show", help="the show file (TOML)")
    add_broker_arguments(p)
    p.add_argument(
        "--studio",
        default=None,
        type=studio_name,
        help="studio name (default demo, or that of --credentials)",
    )
    p.add_argument("--no-broker", action="store_true", help="leave the broker out")
    p.add_argument("--no-probe", action="store_true", help="check adapters' settings only, not their peers")
    p.add_argument(
        "--api",
        metavar="URL",
        help="a running host's operator API (e.g. http://127.0.0.1:8080): check its podiums",
    )
    p.add_argument("--token", help="the operator token for --api")
    p.add_argument("--json", action="store_true", help="the findings as JSON")


def api_podiums(url: str, token: str | None) -> list[dict[str, Any]]:
    """The podium registry of a running host (needs the operator token)."""
    req = urllib.request.Request(url.rstrip("/") + "/api/state")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            state = json.loads(r.read())
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise UserError(f"--api {url}", f"cannot read the host's state: {getattr(e, 'reason', e)}") from None
    pods = state.get("podiums") if isinstance(state, dict) else None
    return [p for p in pods if isinstance(p, dict)] if isinstance(pods, list) else []


async def _check(args: argparse.Namespace) -> int:
    from buzzline.commands.host import host_login
    from buzzline.preflight import check_show, errors, podium_findings

    broker = None if args.no_broker else broker_address(args.broker)
    secrets = None if args.no_broker else studio_credentials(args)
    login = host_login(args) if broker is not None else (None, None)
    show, found = await check_show(
        args.show, probe=not args.no_probe, broker=broker, login=login, secrets=secrets
    )
    if args.api:
        pods = api_podiums(args.api, args.token)
        if not pods and not args.token:
            raise UserError(
                f"--api {args.api}", "the host shows its podiums to the operator only", "add --token"
            )
        found += podium_findings(pods, show)
    bad = errors(found)
    if args.json:
        print(json.dumps({"findings": [f.as_dict() for f in found], "errors": len(bad)}, indent=1))
    else:
        for f in found:
            print(f.line(), flush=True)
        warnings = len(found) - len(bad)
        summary = "no problems found" if not found else f"{len(bad)} error(s), {warnings} warning(s)"
        print(f"buzzline check {args.show}: {summary}", file=sys.stderr)
    return EXIT_USAGE if bad else 0


def run(args: argparse.Namespace) -> int:
    return asyncio.run(_check(args))
