"""`buzzline bench adapters`: how fast a buzz reaches the lighting, through the studio adapters.

A host (against its own Mosquitto) runs three adapters: ``osc`` (qlcplus preset, UDP), and two
``dmx-usbpro`` on ptys, one sending a frame at once on change, one only at ``--fps``.
Each output is read by a receiver in its own process (``_adapter_receiver``) that stamps what
it reads with CLOCK_MONOTONIC. Per buzz, from the press handed to the host (stamped with the
same clock just before) to:
- ``osc_ms``: the receiver reading ``/buzzline/1/winner 1.0``;
- ``dmx_ms``: the first frame showing seat 1's winner look (change-triggered);
- ``dmx_refresh_ms``: the same with frames only at ``--fps`` (what a refresh-only sender gives).
The show has one podium, so each buzz is decided at once (with more podiums the decision waits
for their lock acknowledgements: ``bench e2e`` measures that part); no event log is kept.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sys
import time
from typing import Any

from buzzline.benchmarks._stats import p50_p99

NAME = "adapters"
HELP = "latency from a buzz at the host to the OSC datagram and the DMX frame read by other processes"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--buzzes", type=int, default=200)
    p.add_argument("--fps", type=float, default=30.0, help="DMX refresh rate")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")


class Receiver:
    def __init__(self, kind: str, where: str, fd: int | None = None) -> None:
        self.kind, self.where, self.fd = kind, where, fd
        self.lines: asyncio.Queue[list[str]] = asyncio.Queue()
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "buzzline.benchmarks._adapter_receiver", self.kind, self.where,
            stdout=asyncio.subprocess.PIPE, pass_fds=() if self.fd is None else (self.fd,),
        )  # fmt: skip
        assert self.proc.stdout is not None
        async with asyncio.timeout(10):
            if (await self.proc.stdout.readline()).strip() != b"ready":
                raise RuntimeError(f"the {self.kind} receiver did not start")
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            await self.lines.put(line.decode().split())

    async def first(self, after_ns: int, match: Any, timeout: float = 5.0) -> int:
        """The stamp of the first line after ``after_ns`` that ``match`` accepts."""
        async with asyncio.timeout(timeout):
            while True:
                parts = await self.lines.get()
                if int(parts[0]) >= after_ns and match(parts[1:]):
                    return int(parts[0])

    def drain(self) -> None:
        while not self.lines.empty():
            self.lines.get_nowait()

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._task is not None:
            self._task.cancel()


def _pty() -> tuple[int, int, str]:
    """A pty: the adapter opens the device path; the receiver reads the master, as the USB
    interface would take the bytes (one hop, no relay process in between)."""
    master, slave = os.openpty()
    return master, slave, os.ttyname(slave)


def _udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def measure(args: argparse.Namespace, broker_host: str, broker_port: int) -> dict[str, Any]:
    from buzzline.core import events as ev
    from buzzline.core.show import Player, Show
    from buzzline.host_service import HostService
    from buzzline.hosttime import now_us

    rng = random.Random(args.seed)
    fds: list[int] = []
    receivers: list[Receiver] = []
    series: dict[str, list[float]] = {"osc": [], "dmx": [], "dmx_refresh": []}
    try:
        fast_master, fast_slave, fast_dev = _pty()
        slow_master, slow_slave, slow_dev = _pty()
        fds += [fast_master, fast_slave, slow_master, slow_slave]  # the slaves stay open: no EIO
        port = _udp_port()
        osc = Receiver("osc", str(port))
        fast = Receiver("dmx", str(fast_master), fast_master)
        slow = Receiver("dmx", str(slow_master), slow_master)
        receivers += [osc, fast, slow]
        for r in receivers:
            await r.start()
        show = Show(players=(Player("Ann", podium="p1", colour="ff8000"),))
        looks = {"armed": {"breathe_ms": 0, "level": 0.5}}  # steady, so only the winner is at full
        dmx = {"seats": 1, "fps": args.fps, "looks": looks}
        async with HostService(broker_host, broker_port, "bench-adapters", show=show) as svc:
            await svc.feed(ev.PodiumOnline("p1"))
            await svc.adapters.add("osc", "osc", {"preset": "qlcplus", "port": port})
            await svc.adapters.add("dmx", "dmx-usbpro", {**dmx, "port": fast_dev})
            await svc.adapters.add("dmx-refresh", "dmx-usbpro", {**dmx, "port": slow_dev, "on_change": False})
            await asyncio.sleep(0.5)
            full = ["255", "128", "0"]
            for seq in range(1, args.buzzes + 1):
                await svc.command("read")
                await svc.command("arm")
                await asyncio.sleep(rng.uniform(0.05, 0.1))  # the armed look reaches the fixtures
                for r in receivers:
                    r.drain()
                t0 = time.monotonic_ns()
                t = now_us()
                await svc.feed(ev.PodiumPress("p1", seq, t, t, 500, True, t))
                got = await asyncio.gather(
                    osc.first(t0, lambda a: a == ["/buzzline/1/winner", "1.0"]),
                    fast.first(t0, lambda a: a == full),
                    slow.first(t0, lambda a: a == full),
                )
                for key, stamp in zip(series, got, strict=True):
                    series[key].append((stamp - t0) / 1e6)
                await svc.command("judge", correct=True)
                await svc.command("next")
    finally:
        for r in receivers:
            await r.stop()
        for fd in fds:
            os.close(fd)
    return {
        "buzzes": args.buzzes,
        "fps": args.fps,
        "osc_ms": p50_p99(series["osc"]),
        "dmx_ms": p50_p99(series["dmx"]),
        "dmx_refresh_ms": p50_p99(series["dmx_refresh"]),
    }


def run(args: argparse.Namespace) -> int:
    from buzzline.errors import UserError
    from buzzline.io.broker import MosquittoBroker

    if args.buzzes < 1 or not 1 <= args.fps <= 44:
        raise UserError("bench adapters", "--buzzes must be at least 1 and --fps between 1 and 44")
    with MosquittoBroker() as broker:
        result = asyncio.run(measure(args, broker.host, broker.port))
    if args.json:
        print(json.dumps(result))
    else:
        for key in ("osc_ms", "dmx_ms", "dmx_refresh_ms"):
            print(f"{key:15} p50 {result[key]['p50']:7.3f}  p99 {result[key]['p99']:7.3f}")
        print(f"({result['buzzes']} buzzes, DMX at {result['fps']:g} fps)", file=sys.stdout)
    return 0
