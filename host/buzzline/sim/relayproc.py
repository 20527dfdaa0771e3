"""The delay relays of ``bench fairness-live`` in a process of their own.

In the benchmark's process the relays would share one event loop with the virtual podiums: a
lock reaching eight podiums keeps that loop busy for a few milliseconds (decode, acknowledge,
publish), and a relay that reads a chunk late stamps it late and sends it late. Real podiums and
a real network do not wait for each other like that. Here every link's ``DelayProxy`` runs in a
child process with its own loop and ``PreciseTimer``; the parent tells it the links once and the
congestion bursts of each race as they are drawn.

Protocol (one JSON object per line): the parent writes ``{"target": [host, port], "profile":
NAME, "links": [{"index": I, "asym": A, "seed": S}, ...]}``; the child answers ``{"ports":
[...]}`` once every relay listens; then each ``{"burst": [us, ...]}`` (one per link, both
directions) holds until the next. The child ends when its stdin closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
from typing import Any

from buzzline.lifecycle import wait_or_kill
from buzzline.sim.delayproxy import DelayProxy
from buzzline.sim.netmodel import NetPath, load_profile
from buzzline.sim.precise import PreciseTimer


class RelayProcess:
    """``async with RelayProcess(host, port, profile, links) as relays``: ``relays.ports[i]`` is
    link ``i``'s listening port; ``await relays.set_bursts([...])`` per race."""

    def __init__(self, host: str, port: int, profile: str, links: list[dict[str, Any]]) -> None:
        self.config = {"target": [host, port], "profile": profile, "links": links}
        self.ports: list[int] = []
        self._proc: asyncio.subprocess.Process | None = None

    async def __aenter__(self) -> RelayProcess:
        self._proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "buzzline.sim.relayproc",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write(json.dumps(self.config).encode() + b"\n")
        await self._proc.stdin.drain()
        async with asyncio.timeout(30):
            line = await self._proc.stdout.readline()
        if not line:
            raise RuntimeError("the relay process ended before it listened")
        self.ports = json.loads(line)["ports"]
        return self

    async def set_bursts(self, bursts_us: list[float]) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(json.dumps({"burst": bursts_us}).encode() + b"\n")
        await self._proc.stdin.drain()

    async def __aexit__(self, *exc: object) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()
        await wait_or_kill(proc, 10)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    config = json.loads(await stdin.readline())
    host, port = config["target"]
    prof = load_profile(config["profile"])
    timer = PreciseTimer()
    paths: list[tuple[NetPath, NetPath]] = []
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(timer.close)
        ports = []
        for link in config["links"]:
            g = prof.group_of(link["index"] % prof.podiums)
            rng = random.Random(link["seed"])
            up = NetPath(g.up, g.loss, rng, 1 + link["asym"])
            down = NetPath(g.down, g.loss, rng, 1 - link["asym"])
            paths.append((up, down))
            proxy = DelayProxy(host, port, _draw(up), _draw(down), timer)
            ports.append((await stack.enter_async_context(proxy)).port)
        sys.stdout.write(json.dumps({"ports": ports}) + "\n")
        sys.stdout.flush()
        while line := await stdin.readline():
            for (up, down), b in zip(paths, json.loads(line)["burst"], strict=True):
                up.burst_us = down.burst_us = b


def _draw(path: NetPath) -> Any:
    return lambda: path.delay_us() or 0


if __name__ == "__main__":
    asyncio.run(_serve())
