"""The podiums of `bench chaos`, behind one small interface: simulated ones (``VirtualPodium``
in the benchmark's process) or real firmware ones (``micropython -X heapsize=96k`` running the
.mpy tree, driven through the unix board's harness, one process per podium).

What the benchmark needs of a podium: start (a new boot), die without a word (SIGKILL for the
firmware), press at a host instant and say the podium time it stamped and the host instant the
edge really happened, whether its link is up, and how many upstream messages still wait for
the broker's acknowledgement.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from buzzline.hosttime import now_us

_WRAP = 1 << 30  # the unix port's ticks_us: CLOCK_MONOTONIC µs modulo 2**30


class SimPodium:
    """A ``VirtualPodium`` in this process."""

    def __init__(self, pid: str, port: int, studio: str, rng: random.Random) -> None:
        from buzzline.sim.podium import VirtualPodium

        self.pid = pid
        self.pod = VirtualPodium(pid, "127.0.0.1", port, studio, rng=rng)

    async def start(self) -> None:
        await self.pod.start()

    async def crash(self) -> None:
        await self.pod.crash()

    async def stop(self) -> None:
        await self.pod.stop()

    async def press(self, h_us: int) -> tuple[int, int]:
        """Press at host instant ``h_us``: (podium time stamped, host instant of the edge)."""
        await asyncio.sleep(max(0.0, (h_us - now_us()) / 1e6))
        return await self.pod.press(self.pod.clock.at(h_us)), h_us

    async def link_up(self) -> bool:
        return self.pod.link_up.is_set()

    async def boot(self) -> int:
        return int(self.pod.boot)

    async def pending(self) -> int:
        return int(self.pod.unacknowledged)

    async def radio(self, up: bool) -> None:
        """The simulated podium has no radio of its own: its link faults are the proxy's."""

    async def memory_errors(self) -> int:
        return 0


class FirmwarePodium:
    """The real firmware on the MicroPython unix port, one process per boot."""

    RELEASE_S = 0.06  # a thumb on the button: down, then up after this long

    def __init__(self, pid: str, port: int, studio: str, tree: Path, workdir: Path) -> None:
        self.pid = pid
        self.port = port
        self.studio = studio
        self.tree = tree
        self.workdir = workdir
        self._lock = threading.Lock()  # one harness line at a time
        self.pod: Any = None

    @staticmethod
    def build(out: Path) -> Path:
        """The .mpy tree every firmware podium runs (built once per run)."""
        from buzzline.commands.flash import ROOT

        sys.path.insert(0, str(ROOT / "firmware" / "tools"))
        from unixpodium import build_tree  # type: ignore[import-not-found]

        return Path(build_tree(out))

    def _cmd(self, line: str) -> str:
        with self._lock:
            if self.pod is None:
                raise RuntimeError(f"{self.pid}: not running")
            try:
                return str(self.pod.cmd(line))
            except TimeoutError:
                raise RuntimeError(f"{self.pid}: no answer to {line!r}; log: {self.pod.lines[-8:]}") from None

    async def start(self) -> None:
        from unixpodium import UnixPodium

        # the board's own reconnect schedule (unixpodium shortens it for tests): BACKOFF_FAST_MS
        # while an outage is young, then up to BACKOFF_MAX_MS
        extra = {"backoff_max_ms": 4000}
        pod = UnixPodium(self.tree, self.workdir, self.port, pid=self.pid, studio=self.studio, extra=extra)
        await asyncio.to_thread(pod.start)
        self.pod = pod

    async def crash(self) -> None:
        """SIGKILL: no DISCONNECT, no clean offline; the broker publishes the last will."""
        pod, self.pod = self.pod, None
        if pod is not None and pod.proc is not None and pod.proc.poll() is None:
            pod.proc.send_signal(signal.SIGKILL)
            await asyncio.to_thread(pod.proc.wait, 5)
        if pod is not None and pod._sock is not None:
            pod._sock.close()
        self._keep_log(pod, "SIGKILL")

    async def stop(self) -> None:
        pod, self.pod = self.pod, None
        if pod is not None:
            await asyncio.to_thread(pod.stop)
        self._keep_log(pod, "stopped")

    def _keep_log(self, pod: Any, how: str) -> None:
        """What the boot printed, into the work directory (podium.log, one section a boot)."""
        if pod is not None:
            with open(self.workdir / "podium.log", "a") as f:
                f.write("\n".join([*pod.lines, f"-- {how}", ""]))

    async def memory_errors(self) -> int:
        """MemoryErrors this boot caught (the harness's mem?)."""
        try:
            mem = await asyncio.to_thread(self._cmd, "mem?")
        except (OSError, RuntimeError):
            return 0
        return sum(int(w.split("=")[1]) for w in mem.split() if w.startswith("memerr="))

    async def press(self, h_us: int) -> tuple[int, int]:
        """Press at host instant ``h_us`` through the harness; the edge's own stamp says when it
        really was (ticks_us is CLOCK_MONOTONIC here, as is the host's clock)."""
        before = (await asyncio.to_thread(self._cmd, "pt?")).split()[0]
        await asyncio.sleep(max(0.0, (h_us - now_us()) / 1e6))
        await asyncio.to_thread(self._cmd, "press")
        # the button task turns the IRQ's stamp into a press a moment after the edge
        deadline = time.monotonic() + 5
        while (got := (await asyncio.to_thread(self._cmd, "pt?")).split())[0] == before:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.pid}: the press was not captured")
            await asyncio.sleep(0.002)
        raw, pt = int(got[0]), int(got[1])
        t = now_us()
        h_true = t - (t - raw) % _WRAP
        asyncio.get_running_loop().call_later(self.RELEASE_S, self._release)
        return pt, h_true

    def _release(self) -> None:
        if self.pod is not None:
            threading.Thread(target=self._quiet, args=("release",), daemon=True).start()

    def _quiet(self, line: str) -> None:
        with contextlib.suppress(OSError, RuntimeError):  # the podium was killed meanwhile
            self._cmd(line)

    async def _state(self) -> dict[str, int]:
        if self.pod is None:
            return {}
        try:
            text = await asyncio.to_thread(self._cmd, "state?")
        except (OSError, RuntimeError):
            return {}
        return {k: int(v) for k, v in (w.split("=") for w in text.split())}

    async def link_up(self) -> bool:
        return (await self._state()).get("up") == 1

    async def boot(self) -> int:
        return (await self._state()).get("b", -1)

    async def pending(self) -> int:
        return (await self._state()).get("pending", 0)

    async def radio(self, up: bool) -> None:
        """The Wi-Fi link (the unix board's stand-in): while down the link cannot come back."""
        await asyncio.to_thread(self._quiet, "wifi up" if up else "wifi down")
