"""`buzzline demo`: a whole show on one machine: broker, host and simulated podiums.

Plays scripted questions with contestants who sometimes jump the gun (false starts),
sometimes press within a few milliseconds of each other (close races and ties), and
sometimes answer wrong (the question reopens for the others), printing every step.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from buzzline.commands._audience_demo import audience_demo
from buzzline.commands._common import broker_address, check_log_path
from buzzline.core.contract import GameView
from buzzline.core.types import Decision
from buzzline.errors import UserError, studio_name
from buzzline.gate.bridge import decision_events
from buzzline.hosttime import now_us
from buzzline.narrate import decision_line, event_line, names_of, standings

NAME = "demo"
HELP = "play a whole show on this machine (broker, host, simulated podiums)"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=4)
    p.add_argument("--headless", action="store_true", help="no windows: print the show to the terminal")
    p.add_argument("--seconds", type=float, default=None, help="stop after this many seconds (exit 0)")
    p.add_argument("--questions", type=int, default=None, help="stop after this many questions")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--studio", default="demo", type=studio_name)
    p.add_argument("--log", dest="log_path", default=None, help="keep the event log in this file")
    p.add_argument("--broker", default=None, help="use this broker HOST:PORT instead of starting one")
    p.add_argument("--http", type=int, default=0, help="serve the console on this port (default: a free one)")
    p.add_argument(
        "--operator",
        action="store_true",
        help="you run the show from the console; the podiums ring in by themselves when armed",
    )
    p.add_argument(
        "--audience",
        type=int,
        default=0,
        metavar="N",
        help="N simulated phones play along on a 3-node NATS cluster (make demo: 20); prints the join link",
    )
    p.add_argument(
        "--embedded-broker",
        action="store_true",
        help="use the embedded pure-Python broker (amqtt) even where Mosquitto is installed",
    )


def describe(d: Decision, view: GameView) -> str:
    """One line for a decision: winner, ring-in order with gaps and bounds in ms, tie and flags
    (the notice event the gate makes of it, with the podiums it settled a tie between)."""
    event = next(e for e in decision_events(d, view) if e["k"] in ("winner", "no_winner"))
    return decision_line({**event, "tied": list(d.tied)})


async def _sleep_until(t_mono: float) -> None:
    delay = t_mono - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


async def _press_at(podium: Any, host_us: int) -> None:
    """Press exactly at a host instant: sleep until then, stamp the podium's reading of it."""
    await _sleep_until(host_us / 1e6)
    await podium.press(at_podium_us=podium.clock.at(host_us))


async def play_questions(
    svc: Any,
    podiums: list[Any] | None,
    seconds: float | None,
    questions: int | None = None,
    rng: random.Random | None = None,
    out: Callable[[str], None] = print,
) -> int:
    """Run questions until time or count runs out; returns how many were played."""
    rng = rng or random.Random(1)
    start = time.monotonic()
    q = 0

    def time_left() -> bool:
        if seconds is not None and time.monotonic() - start > seconds - 1.5:
            return False
        return questions is None or q < questions

    def name(pid: str | None) -> str:
        return names_of(svc.engine.view()).get(pid or "", pid or "nobody")

    while time_left():
        q += 1
        if await _refused(svc, "read"):  # the show has ended
            q -= 1
            break
        info = svc.engine.view().get("info", {})
        where = ", ".join(x for x in (info.get("round"), f"{info.get('value')} points") if x)
        out(f"Q{q} ({where}): the host reads the question")
        if podiums and rng.random() < 0.3:
            early = rng.choice(podiums)
            await asyncio.sleep(rng.uniform(0.05, 0.2))
            out(f"  {name(early.pid)} jumps the gun (presses while the question is being read)")
            await early.press()
        await asyncio.sleep(rng.uniform(0.2, 0.35))
        out("  armed: buzzers open")
        await svc.command("arm")
        decision_wait = asyncio.ensure_future(svc.wait_decision(5.0))
        if podiums:
            base = now_us() + int(rng.uniform(0.12, 0.3) * 1e6)
            kind = rng.random()
            racers = rng.sample(podiums, k=min(len(podiums), rng.randint(2, 3)))
            if kind < 0.25:  # dead heat: within 0.1 ms
                offsets = [rng.randint(0, 100) for _ in racers]
            elif kind < 0.6:  # close race: a few ms
                offsets = [rng.randint(0, 4000) for _ in racers]
            else:
                offsets = [rng.randint(0, 150_000) for _ in racers]
            await asyncio.gather(*(_press_at(p, base + o) for p, o in zip(racers, offsets, strict=True)))
        try:
            d = await decision_wait
        except TimeoutError:
            out("  no decision (nobody pressed in time)")
            await svc.command("timeout")
            if await _refused(svc, "next"):
                await svc.command("end")
                break
            continue
        out("  " + describe(d, svc.engine.view()))
        # Judge: sometimes wrong, so the question reopens for the others.
        for _attempt in range(3):
            if d.winner is None:
                break
            correct = rng.random() < 0.6
            if correct:
                await svc.command("judge", correct=True)
                out(f"  {name(d.winner)} answers correctly")
                break
            decision_wait = asyncio.ensure_future(svc.wait_decision(2.0))
            await svc.command("judge", correct=False)
            out(f"  {name(d.winner)} answers wrong: the question reopens for the others")
            others = [p for p in (podiums or []) if p.pid not in {r.podium for r in d.order[:1]}]
            if others:
                p = rng.choice(others)
                await asyncio.sleep(rng.uniform(0.1, 0.3))
                await p.press()
            try:
                d = await decision_wait
            except TimeoutError:
                out("  nobody else rang in")
                with contextlib.suppress(Exception):
                    await svc.command("timeout")
                break
            out("  " + describe(d, svc.engine.view()))
        scores = svc.engine.view().get("scores", {})
        out("  scores: " + ", ".join(f"{k} {v}" for k, v in sorted(scores.items())))
        if await _refused(svc, "next"):
            await svc.command("end")
            break
    out("final standings: " + standings(svc.engine.view().get("scores", {})))
    return q


async def _print_host_events(svc: Any) -> None:
    """What the host itself reports that the operator should see (false starts), from its notices."""
    sub = svc.notices.subscribe("demo", replay_latest=False)
    try:
        async for notice in sub:
            for e in notice.of("false_start"):
                print(f"  host: {event_line(e)}", flush=True)
    finally:
        svc.notices.unsubscribe(sub)


async def _operator_show(svc: Any, seconds: float | None) -> int:
    """The operator plays from the console: wait for the show's end (or the time limit)."""
    start = time.monotonic()
    while svc.engine.view()["phase"] != "ended":
        if seconds is not None and time.monotonic() - start > seconds:
            break
        await asyncio.sleep(0.2)
    return int(svc.engine.view()["q"])


async def _refused(svc: Any, name: str, **args: Any) -> bool:
    from buzzline.core.events import CommandRefused

    return any(isinstance(e, CommandRefused) for e in await svc.command(name, **args))


async def _demo(args: argparse.Namespace) -> int:
    import tempfile

    from buzzline.core.show import Round, Show
    from buzzline.host_service import HostService
    from buzzline.io.broker import (
        Broker,
        MosquittoBroker,
        find_mosquitto,
        free_port,
        start_broker,
    )
    from buzzline.io.reach import wait_for_broker
    from buzzline.io.security import broker_extra_config, write_broker_config
    from buzzline.sim.podium import AutoPress, VirtualPodium
    from buzzline.viewer.demo import open_window
    from buzzline.web.app import serve_operator_api

    # what the user gave, checked before anything starts (one line each, buzzline.errors)
    if not 1 <= args.podiums <= 64:
        raise UserError(f"--podiums {args.podiums}", "must be 1 to 64")
    if args.log_path:
        check_log_path(args.log_path)
    if args.broker:
        host, port = broker_address(args.broker)
        await wait_for_broker(host, port, can_wait=False)
    rng = random.Random(args.seed)
    pids = [f"p{i + 1}" for i in range(args.podiums)]
    broker: Broker | None = None
    creds: dict[str, tuple[str | None, str | None]] = {}
    tmp = tempfile.TemporaryDirectory(prefix="buzzline-demo-")
    if args.broker:  # the user's broker, checked above
        print(f"broker: {host}:{port} (yours)", flush=True)
    elif find_mosquitto() and not args.embedded_broker:
        # The secured setup a studio would run: per-podium accounts and an ACL.
        secrets = write_broker_config(tmp.name, args.studio, pids)
        broker = MosquittoBroker(
            extra_config=broker_extra_config(tmp.name), allow_anonymous=False, own_group=True
        )
        broker.start()
        creds = {p: (c.username, c.password) for p, c in secrets.podiums.items()}
        creds["host"] = (secrets.host.username, secrets.host.password)
        host, port = broker.host, broker.port
        print(f"broker: mosquitto on {broker.address}, anonymous refused, per-podium ACL", flush=True)
    else:
        broker = start_broker("amqtt")
        host, port = broker.host, broker.port
        print(f"broker: {broker.kind} on {broker.address} (embedded, no ACL)", flush=True)
    try:
        async with contextlib.AsyncExitStack() as stack:
            hu, hp = creds.get("host", (None, None))
            show = dataclasses.replace(
                Show.default([]),
                rounds=(
                    Round("Round 1", (100, 200, 300, 400, 500)),
                    Round("Round 2", (200, 400, 600, 800, 1000)),
                    Round("Final", (1000,) * 5),
                ),
            )
            svc = await stack.enter_async_context(
                HostService(
                    host,
                    port,
                    args.studio,
                    show=show,
                    log_path=args.log_path,
                    seed=args.seed,
                    username=hu,
                    password=hp,
                )
            )
            print(f"host: studio {args.studio!r}, fair arbiter with lock-first, decide-second", flush=True)
            api = await serve_operator_api(svc, "127.0.0.1", args.http or free_port())
            stack.push_async_callback(api.close)
            url = f"http://127.0.0.1:{api.server.config.port}"
            print(f"console: {url}/console#token={api.token}  (API docs: {url}/api/docs)", flush=True)
            printer = svc.supervise("demo-notices", lambda: _print_host_events(svc))
            stack.push_async_callback(svc.end, printer)
            podiums = []
            for pid in pids:
                pu, pp = creds.get(pid, (None, None))
                p = VirtualPodium(
                    pid, host, port, args.studio, rng=random.Random(rng.random()), username=pu, password=pp,
                    on_light=AutoPress(random.Random(rng.random())) if args.operator else None,
                )  # fmt: skip
                podiums.append(await stack.enter_async_context(p))
            async with asyncio.timeout(10):
                await asyncio.gather(*(p.synced.wait() for p in podiums))
                while not all(svc.clocks.model(p.pid, p.boot).trusted for p in podiums):
                    await asyncio.sleep(0.05)
            print(f"podiums: {', '.join(p.pid for p in podiums)} online and clock-synced", flush=True)
            print(f"overlay (OBS browser source): {url}/overlay", flush=True)
            if not 0 <= args.audience <= 500:
                raise UserError(f"--audience {args.audience}", "must be 0 to 500")
            await stack.enter_async_context(audience_demo(svc, url, args.audience, Path(tmp.name), args.seed))
            if not args.headless:
                print(await open_window(svc), flush=True)
            try:
                if args.operator:
                    print("run the show from the console: R read, Space arm, Enter right, ? keys", flush=True)
                    played = await _operator_show(svc, args.seconds)
                else:
                    played = await play_questions(svc, podiums, args.seconds, args.questions, rng)
            except asyncio.CancelledError:  # Ctrl-C: say where the show stood, then stop in order
                scores = svc.engine.view().get("scores", {})
                print(f"\nstopped (Ctrl-C); standings: {standings(scores)}", flush=True)
                raise
            rejects = dict(svc.ingest.rejects)
            bad = (
                f"{sum(rejects.values())} malformed or refused messages ({', '.join(sorted(rejects))})"
                if rejects
                else "no malformed messages"
            )
            print(f"show over: {played} questions, {bad}", flush=True)
    finally:
        if broker is not None:
            broker.stop()
        tmp.cleanup()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.getLogger("buzzline").setLevel(logging.WARNING)
    try:
        return asyncio.run(_demo(args))
    except KeyboardInterrupt:
        return 0
