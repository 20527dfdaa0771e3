"""`buzzline sim`: virtual podiums that speak protocol v1, pressing like contestants."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random

from buzzline.io.broker import parse_address

NAME = "sim"
HELP = "run simulated podiums against a broker"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=4)
    p.add_argument("--broker", default="127.0.0.1:1883", help="broker HOST:PORT")
    p.add_argument("--studio", default="demo")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--seconds", type=float, default=None, help="stop after this long")
    p.add_argument(
        "--press",
        choices=["auto", "never"],
        default="auto",
        help="auto: press with a human reaction time whenever the podium is armed",
    )


async def _run(args: argparse.Namespace) -> int:
    from buzzline.sim.podium import LightState, VirtualPodium

    host, port = parse_address(args.broker)
    rng = random.Random(args.seed)
    pending: set[asyncio.Task[None]] = set()

    def on_light(p: VirtualPodium, light: LightState) -> None:
        print(f"{p.pid}: light {light.pattern}", flush=True)
        if args.press == "auto" and light.pattern == "armed":

            async def later() -> None:
                await asyncio.sleep(rng.uniform(0.15, 0.6))
                if p.armed:
                    await p.press()

            t = asyncio.create_task(later())
            pending.add(t)
            t.add_done_callback(pending.discard)

    podiums = [
        VirtualPodium(
            f"p{i + 1}", host, port, args.studio, rng=random.Random(rng.random()), on_light=on_light
        )
        for i in range(args.podiums)
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
