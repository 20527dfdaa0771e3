"""`buzzline bench desk`: a buzz to a real lighting desk's DMX output, against the desk's own floor.

Headless QLC+ runs examples/qlcplus/buzzline.qxw (seat 1's intensity on DMX channel 1, bound to
``/buzzline/1/winner``); a host (its own Mosquitto, one podium, no event log) drives it through
the ``osc`` adapter's qlcplus preset. Per round, alternating so both see the same load:
- ``buzz_ms``: a press handed to the host to QLC+ holding channel 1 at 255, read back over its
  websocket API, polled back to back;
- ``floor_ms``: the same message sent straight to QLC+ from here (no host, no adapter) to the same
  read-back: QLC+'s own OSC-to-DMX path plus the polling;
- ``adapter_ms``: the same buzz to the same message reaching a UDP socket here, from a second
  ``osc`` instance with the same preset: the host and adapter's share of the path;
- ``poll_ms``: one read-back round trip, the resolution of ``buzz_ms`` and ``floor_ms``.
QLC+ takes OSC input and sends DMX on its own timer ticks, so ``floor_ms`` is not one fixed
delay: the host's few ms hide inside its tick (``buzz_ms`` is about ``floor_ms``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import time
from typing import Any

from buzzline.benchmarks._stats import p50_p99

NAME = "desk"
HELP = (
    "latency from a buzz to a real desk's DMX output (headless QLC+, qlcplus preset), with QLC+'s own floor"
)
WINNER = "/buzzline/1/winner"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--buzzes", type=int, default=100, help="rounds (each one buzz and one direct message)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


class _Tap(asyncio.DatagramProtocol):
    """Stamps the first ``/buzzline/1/winner 1.0`` a round's buzz sends here."""

    def __init__(self) -> None:
        self.arrived: asyncio.Future[int] | None = None
        self.want = b""

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        from buzzline.adapters.oscwire import build

        stamp = time.monotonic_ns()
        self.want = self.want or build(WINNER, [1.0])
        if data == self.want and self.arrived is not None and not self.arrived.done():
            self.arrived.set_result(stamp)


async def _lit(desk: Any, t0: int, level: int) -> float:
    """ms from ``t0`` (monotonic ns) until channel 1 reads ``level``."""
    await desk.until({1: level})
    return (time.monotonic_ns() - t0) / 1e6


async def measure(buzzes: int, broker_host: str, broker_port: int) -> dict[str, Any]:
    from buzzline.adapters.oscwire import build
    from buzzline.benchmarks._qlcplus import QlcDesk
    from buzzline.core import events as ev
    from buzzline.core.show import Player, Show
    from buzzline.host_service import HostService
    from buzzline.hosttime import now_us

    series: dict[str, list[float]] = {"buzz": [], "floor": [], "adapter": [], "poll": []}
    tap = _Tap()
    show = Show(players=(Player("Ann", podium="p1", colour="ff8000"),))
    direct = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    async with QlcDesk() as desk:
        direct.connect(("127.0.0.1", desk.osc_port))
        async with HostService(broker_host, broker_port, "bench-desk", show=show) as svc:
            await svc.feed(ev.PodiumOnline("p1"))
            await svc.adapters.add("desk", "osc", {"preset": "qlcplus", "port": desk.osc_port})
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(lambda: tap, local_addr=("127.0.0.1", 0))
            await svc.adapters.add(
                "tap", "osc", {"preset": "qlcplus", "port": transport.get_extra_info("sockname")[1]}
            )
            await desk.until({1: 0})
            for seq in range(1, buzzes + 1):
                # the desk alone: the preset's message, sent from here
                t0 = time.monotonic_ns()
                direct.send(build(WINNER, [1.0]))
                series["floor"].append(await _lit(desk, t0, 255))
                direct.send(build(WINNER, [0.0]))
                await desk.until({1: 0})
                t0 = time.monotonic_ns()
                await desk.channels()
                series["poll"].append((time.monotonic_ns() - t0) / 1e6)
                # a buzz through the host and the osc adapter
                await svc.command("read")
                await svc.command("arm")
                await asyncio.sleep(0.02)
                tap.arrived = asyncio.get_running_loop().create_future()
                t0 = time.monotonic_ns()
                t = now_us()
                await svc.feed(ev.PodiumPress("p1", seq, t, t, 500, True, t))
                series["buzz"].append(await _lit(desk, t0, 255))
                series["adapter"].append((await asyncio.wait_for(tap.arrived, 5) - t0) / 1e6)
                await svc.command("judge", correct=True)
                await svc.command("next")
                await desk.until({1: 0})
            transport.close()
    direct.close()
    return {
        "buzzes": buzzes,
        "buzz_ms": p50_p99(series["buzz"]),
        "floor_ms": p50_p99(series["floor"]),
        "adapter_ms": p50_p99(series["adapter"]),
        "poll_ms": p50_p99(series["poll"]),
        "load_1min": round(os.getloadavg()[0], 2),
    }


def run(args: argparse.Namespace) -> int:
    from buzzline.errors import UserError
    from buzzline.io.broker import MosquittoBroker

    if args.buzzes < 1:
        raise UserError("bench desk", "--buzzes must be at least 1")
    try:
        with MosquittoBroker() as broker:
            result = asyncio.run(measure(args.buzzes, broker.host, broker.port))
    except FileNotFoundError as e:
        raise UserError("bench desk", str(e)) from None
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("buzz_ms", "floor_ms", "adapter_ms", "poll_ms"):
            print(f"{key:10} p50 {result[key]['p50']:8.3f}  p99 {result[key]['p99']:8.3f}")
        print(f"({result['buzzes']} buzzes; 1-minute load {result['load_1min']})")
    return 0
