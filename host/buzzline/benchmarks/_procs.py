"""The processes `bench e2e` and `bench capacity` steer: podium workers, the host, the bare relay.

Each is a child Python process spoken to in lines over stdin/stdout (see `_podium_worker`,
`_host_proc`, `_relay`), so the benchmark's own loop never shares a process with what it
measures. Timestamps are CLOCK_MONOTONIC microseconds, which every process here shares.
"""

from __future__ import annotations

import asyncio
import random
import sys
from collections.abc import Sequence

from buzzline.hosttime import now_us
from buzzline.lifecycle import wait_or_kill

_PY = sys.executable


def say(line: str) -> None:
    """A child's side of ``LineProc``: one line to the benchmark, at once."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


class LineProc:
    """A child process answering each line it is sent with one line (``ask``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: asyncio.Queue[str] = asyncio.Queue()
        self._reader: asyncio.Task[None] | None = None

    async def start(self, module: str, args: Sequence[str], python_args: Sequence[str] = ()) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            _PY, *python_args, "-m", module, *args,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=1 << 26,  # the host's report is one JSON line: a record per lock
        )  # fmt: skip
        self._reader = asyncio.create_task(self._read())
        await self.expect("ready", 60)

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                await self.lines.put(line.decode().rstrip("\n"))
        finally:
            await self.lines.put("")  # the process ended (or its output could not be read)

    def send(self, line: str) -> None:
        assert self.proc is not None and self.proc.stdin is not None
        self.proc.stdin.write(line.encode() + b"\n")

    async def expect(self, word: str, timeout: float = 10) -> str:
        """The next line starting with ``word`` (earlier lines are skipped)."""
        async with asyncio.timeout(timeout):
            while True:
                line = await self.lines.get()
                if not line:
                    raise RuntimeError(f"{self.name} ended (waiting for {word!r})")
                if line.split(" ", 1)[0] == word:
                    return line

    async def ask(self, line: str, timeout: float = 10) -> str:
        self.send(line)
        async with asyncio.timeout(timeout):
            reply = await self.lines.get()
        if not reply or reply.startswith("err"):
            raise RuntimeError(f"{self.name}: {line!r} -> {reply or 'process ended'!r}")
        return reply

    async def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.stdin is not None and self.proc.returncode is None:
            self.proc.stdin.write(b"quit\n")
        await wait_or_kill(self.proc, 10)
        if self._reader is not None:
            self._reader.cancel()


class Workers:
    """The podium worker processes, and what they report (see `_podium_worker`)."""

    def __init__(self) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.owner: dict[str, asyncio.subprocess.Process] = {}
        self.events: asyncio.Queue[list[str]] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

    async def start(self, host: str, port: int, studio: str, pids: list[str], n: int, seed: int) -> None:
        for k in range(n):
            mine = pids[k::n]
            proc = await asyncio.create_subprocess_exec(
                _PY, "-m", "buzzline.benchmarks._podium_worker",
                "--host", host, "--port", str(port), "--studio", studio,
                "--podiums", ",".join(mine), "--seed", str(seed + k),
                stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            )  # fmt: skip
            self.procs.append(proc)
            for pid in mine:
                self.owner[pid] = proc
            self._readers.append(asyncio.create_task(self._read(proc)))
        ready = 0
        async with asyncio.timeout(60):
            while ready < n:
                if (await self.events.get())[0] == "ready":
                    ready += 1

    async def _read(self, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            await self.events.put(line.decode().split())

    def drain(self) -> None:
        while not self.events.empty():
            self.events.get_nowait()

    def press(self, pid: str) -> None:
        stdin = self.owner[pid].stdin
        assert stdin is not None
        stdin.write(f"press {pid}\n".encode())

    def beat(self) -> None:
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"beat\n")

    async def stop(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None and proc.returncode is None:
                proc.stdin.write(b"quit\n")
        for proc in self.procs:
            await wait_or_kill(proc, 5)
        for t in self._readers:
            t.cancel()


async def broker_rtt(host: str, port: int, n: int, rng: random.Random) -> list[float]:
    """Publish to subscriber through the broker, QoS 1, with TCP_NODELAY like our clients.

    Probes are spaced like the presses (idle gaps of 5-30 ms): on this machine a process woken
    from idle answers later than one kept busy, and the floor must be taken in the same regime.
    """
    import aiomqtt

    from buzzline.io.broker import NODELAY

    out: list[float] = []
    async with (
        aiomqtt.Client(host, port, identifier="rtt-sub", socket_options=NODELAY) as sub,
        aiomqtt.Client(host, port, identifier="rtt-pub", socket_options=NODELAY) as pub,
    ):
        await sub.subscribe("bench/rtt", qos=1)
        await asyncio.sleep(0.1)
        it = sub.messages.__aiter__()
        for i in range(n):
            await asyncio.sleep(rng.uniform(0.005, 0.03))
            t0 = now_us()
            await pub.publish("bench/rtt", str(i).encode(), qos=1)
            async with asyncio.timeout(2):
                while True:
                    m = await it.__anext__()
                    if m.payload == str(i).encode():
                        break
            out.append((now_us() - t0) / 1000)
    return out
