"""`buzzline sim`: virtual podiums that speak protocol v1, pressing like contestants."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random

from buzzline.commands._common import add_broker_arguments, broker_address, studio_credentials
from buzzline.errors import UserError, studio_name

NAME = "sim"
HELP = "run simulated podiums against a broker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--podiums", type=int, default=None, help="how many: p1..pN (default 4, or all in --credentials)"
    )
    add_broker_arguments(p)
    p.add_argument(
        "--studio",
        default=None,
        type=studio_name,
        help="studio name (default demo, or that of --credentials)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument(
        "--press",
        choices=["auto", "never"],
        default="auto",
        help="auto: press with a human reaction time whenever the podium is armed",
    )


def podium_logins(args: argparse.Namespace) -> dict[str, tuple[str | None, str | None]]:
    """Each simulated podium's id and broker account: its own from --credentials, else
    --user/--password for all of them (or none)."""
    if args.podiums is not None and not 1 <= args.podiums <= 64:
        raise UserError(f"--podiums {args.podiums}", "must be 1 to 64")
    sec = studio_credentials(args)
    if sec is None:
        return {f"p{i + 1}": (args.user, args.password) for i in range(args.podiums or 4)}
    ids = sorted(sec.podiums) if args.podiums is None else [f"p{i + 1}" for i in range(args.podiums)]
    missing = [p for p in ids if p not in sec.podiums]
    if missing:
        raise UserError(
            f"--credentials {args.credentials}",
            f"no account for {', '.join(missing)}",
            "add them with `buzzline broker config --podiums ...`",
        )
    return {p: (sec.podiums[p].username, sec.podiums[p].password) for p in ids}


async def _run(args: argparse.Namespace) -> int:
    from buzzline.io.reach import wait_for_broker
    from buzzline.sim.podium import AutoPress, LightState, VirtualPodium

    host, port = broker_address(args.broker)
    logins = podium_logins(args)
    first = next(iter(logins.values()))
    await wait_for_broker(host, port, *first, wait=args.wait)
    rng = random.Random(args.seed)
    auto = AutoPress(rng)

    def on_light(p: VirtualPodium, light: LightState) -> None:
        print(f"{p.pid}: light {light.pattern}", flush=True)
        if args.press == "auto":
            auto(p, light)

    podiums = [
        VirtualPodium(
            pid,
            host,
            port,
            args.studio,
            username=user,
            password=password,
            rng=random.Random(rng.random()),
            on_light=on_light,
        )
        for pid, (user, password) in logins.items()
    ]
    async with contextlib.AsyncExitStack() as stack:
        for p in podiums:
            await stack.enter_async_context(p)
        print(f"{len(podiums)} virtual podiums on {host}:{port} studio {args.studio!r}", flush=True)
        if args.seconds:
            await asyncio.sleep(args.seconds)
        else:
            await asyncio.Event().wait()
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 0
