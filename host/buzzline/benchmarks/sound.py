"""`buzzline bench sound`: from a notice to the cue's first sample at the audio device, and the
viewer's frame times while cues play.

SDL's ``disk`` audio driver stands in for the sound card: it writes each buffer the mixer makes
to a file, here a FIFO that a reader thread drains, stamping every read with CLOCK_MONOTONIC. The
mixer opens as the ``sound`` adapter opens it (32-bit float stereo, ``--buffer`` samples, 44.1
kHz), so each buffer is one 4096-byte write at 512 samples, passed on at once. A notice with a
``winner`` event (a ring-in for a random seat) is published on a real ``NoticeBus``; the adapter
runs under the ``AdapterManager`` as in the host. Per cue:
- ``adapter_ms``: the notice published to the cue handed to the mixer (``Sound.play``);
- ``device_ms``: from there to the first buffer holding the cue written to the device (the wait
  for the audio thread's next buffer, up to one buffer, plus mixing);
- ``notice_to_device_ms``: the two together.
The disk driver paces its writes by the clock the way a sound card's interrupt would, so the wait
for the next buffer is the real one; what a card then adds (its own hardware buffer, the DAC) is
not in these figures.

``frame_ms``: the scoreboard window (SDL's dummy video driver) fed the same kind of notices with
no sound and with the cues playing, in turns (without, with, without, with: a load that comes and
goes on the machine falls on both); ``frame_ratio`` is the p50 and p99 with sound over without.
``frame_cpu_ms`` and ``frame_cpu_ratio``: the same frames in the window thread's CPU time (what a
frame costs, without the time other processes held the core: the figure that holds on a shared
machine).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from buzzline.benchmarks._stats import percentile

ROUNDS = 2  # turns of (without sound, with sound)

NAME = "sound"
HELP = "notice to the cue's first sample at the audio device (SDL disk driver), and viewer frames meanwhile"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cues", type=int, default=200, help="ring-in cues to measure")
    p.add_argument("--buffer", type=int, default=512, help="audio buffer in samples")
    p.add_argument("--podiums", type=int, default=8, help="seats on the board (1-16)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _summary(values: list[float]) -> dict[str, Any]:
    return {
        "p50": round(percentile(values, 50), 3),
        "p99": round(percentile(values, 99), 3),
        "max": round(max(values), 3) if values else None,
        "n": len(values),
    }


class DeviceTap:
    """Drains the disk driver's FIFO; ``(monotonic ns, sounds?)`` per buffer read."""

    def __init__(self, fifo: Path, chunk: int) -> None:
        self.fifo = fifo
        self.chunk = chunk
        self.reads: list[tuple[int, bool]] = []
        self._thread = threading.Thread(target=self._run, name="device-tap", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        with open(self.fifo, "rb", buffering=0) as f:  # opens when SDL opens it for writing
            while True:
                data = f.read(self.chunk)
                if not data:
                    return
                self.reads.append((time.monotonic_ns(), any(data)))

    def first_sound_after(self, t_ns: int) -> int | None:
        for t, sounds in self.reads:
            if t >= t_ns and sounds:
                return t
        return None

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)


async def _measure(
    cues: int, buffer: int, podiums: int, seed: int, with_sound: bool, tap: DeviceTap | None
) -> dict[str, list[float]]:
    from buzzline.adapters.api import CommandResult, Notice, Status
    from buzzline.adapters.runner import AdapterManager
    from buzzline.adapters.sound import SoundAdapter
    from buzzline.core.contract import as_view
    from buzzline.notices import NoticeBus
    from buzzline.viewer.adapter import ViewerAdapter
    from buzzline.viewer.demo import demo_state
    from buzzline.viewer.scene import state_events

    view, _ = state_events(demo_state(podiums))
    pids = list(view["info"]["podiums"])
    rng = random.Random(seed)
    bus = NoticeBus()

    async def command(name: str, **args: Any) -> CommandResult:
        return CommandResult(False, "read-only benchmark")

    kinds: dict[str, Any] = {"viewer": ViewerAdapter, "sound": SoundAdapter}
    manager = AdapterManager(bus, lambda: as_view(view), command, kinds=kinds)
    window_inst = await manager.add("screen", "viewer", {"width": 1280, "height": 720})
    sound_inst = await manager.add("sound", "sound", {"buffer": buffer}) if with_sound else None
    adapter_ms: list[float] = []
    device_ms: list[float] = []
    total_ms: list[float] = []
    missed = 0
    try:
        async with asyncio.timeout(20):
            for inst in (window_inst, sound_inst):
                while inst is not None and inst.status is not Status.OK:
                    if inst.status in (Status.ERROR, Status.BAD_CONFIG):
                        raise RuntimeError(f"{inst.kind}: {inst.message}")
                    await asyncio.sleep(0.01)
        window = getattr(window_inst.adapter, "window", None)
        bank = getattr(sound_inst.adapter, "bank", None) if sound_inst is not None else None
        await asyncio.sleep(0.5)
        if window is not None:
            window.frame_ms.clear()
            window.frame_cpu_ms.clear()
        for n in range(cues):
            pid = rng.choice(pids)
            seat = view["info"]["podiums"][pid]["seat"]
            event = {"k": "winner", "podium": pid, "seat": seat, "player": pid, "order": [], "flags": []}
            played_before = bank.played if bank is not None else 0
            t_pub = time.monotonic_ns()
            bus.publish(Notice(n + 1, t_pub // 1000, (event,), as_view(dict(view, winner=pid))))
            await asyncio.sleep(rng.uniform(0.26, 0.34))  # the ring-in (220 ms) has ended
            if bank is None or tap is None:
                continue
            if bank.played == played_before:
                missed += 1
                continue
            t_dev = tap.first_sound_after(t_pub)
            if t_dev is None:
                missed += 1
                continue
            adapter_ms.append((bank.last_play_ns - t_pub) / 1e6)
            device_ms.append((t_dev - bank.last_play_ns) / 1e6)
            total_ms.append((t_dev - t_pub) / 1e6)
        frames = list(window.frame_ms) if window is not None else []
        frames_cpu = list(window.frame_cpu_ms) if window is not None else []
    finally:
        await manager.close()
        bus.close()
    return {
        "frame_ms": frames,
        "frame_cpu_ms": frames_cpu,
        "notice_to_device_ms": total_ms,
        "adapter_ms": adapter_ms,
        "device_ms": device_ms,
        "missed": [1.0] * missed,
    }


def run_sound(cues: int, buffer: int, podiums: int, seed: int) -> dict[str, Any]:
    # the watchdog would name an adapter for loop lag that other processes on the machine cause
    logging.getLogger("buzzline.adapters").setLevel(logging.ERROR)
    os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
    os.environ["SDL_VIDEODRIVER"] = "dummy"
    with tempfile.TemporaryDirectory(prefix="buzzline-sound-") as tmp:
        fifo = Path(tmp) / "device.pcm"
        os.mkfifo(fifo)
        os.environ["SDL_AUDIODRIVER"] = "disk"
        os.environ["SDL_DISKAUDIOFILE"] = str(fifo)
        # without and with sound in turns (A B A B), so a load that comes and goes on the machine
        # falls on both alike
        parts: dict[bool, list[dict[str, list[float]]]] = {False: [], True: []}
        for turn in range(2 * ROUNDS):
            loud = turn % 2 == 1
            n = cues // ROUNDS + (1 if turn // 2 < cues % ROUNDS else 0)
            tap = DeviceTap(fifo, buffer * 8) if loud else None  # float32 stereo: 8 bytes a frame
            if tap is not None:
                tap.start()
            parts[loud].append(asyncio.run(_measure(n, buffer, podiums, seed + turn, loud, tap)))
            if tap is not None:
                tap.join(5)
    import pygame

    quiet = {k: [v for p in parts[False] for v in p[k]] for k in parts[False][0]}
    noisy = {k: [v for p in parts[True] for v in p[k]] for k in parts[True][0]}
    q, s = _summary(quiet["frame_ms"]), _summary(noisy["frame_ms"])
    qc, sc = _summary(quiet["frame_cpu_ms"]), _summary(noisy["frame_cpu_ms"])
    return {
        "frame_cpu_ms": {"without_sound": qc, "with_sound": sc},
        "frame_cpu_ratio": {
            "p50": round(sc["p50"] / qc["p50"], 3) if qc["p50"] else None,
            "p99": round(sc["p99"] / qc["p99"], 3) if qc["p99"] else None,
        },
        "notice_to_device_ms": _summary(noisy["notice_to_device_ms"]),
        "adapter_ms": _summary(noisy["adapter_ms"]),
        "device_ms": _summary(noisy["device_ms"]),
        "missed": len(noisy["missed"]),
        "frame_ms": {"without_sound": q, "with_sound": s},
        "frame_ratio": {
            "p50": round(s["p50"] / q["p50"], 3) if q["p50"] else None,
            "p99": round(s["p99"] / q["p99"], 3) if q["p99"] else None,
        },
        "cues": cues,
        "buffer_samples": buffer,
        "rate_hz": 44100,
        "driver": "disk (a FIFO read by a thread)",
        "pygame": pygame.version.ver,
        "sdl": ".".join(map(str, pygame.get_sdl_version())),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }


def run(args: argparse.Namespace) -> int:
    if args.cues < 1 or not 64 <= args.buffer <= 8192 or not 1 <= args.podiums <= 16:
        print("buzzline bench sound: --cues at least 1, --buffer 64-8192, --podiums 1-16", file=sys.stderr)
        return 2
    result = run_sound(args.cues, args.buffer, args.podiums, args.seed)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for key in ("notice_to_device_ms", "adapter_ms", "device_ms"):
        s = result[key]
        print(f"{key:20s} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms  max {s['max']} ms")
    for fig in ("frame_ms", "frame_cpu_ms"):
        for key, s in result[fig].items():
            print(f"{fig} {key:14s} p50 {s['p50']:7.3f} ms  p99 {s['p99']:7.3f} ms")
    print(f"({result['cues']} cues, {result['missed']} missed, buffer {result['buffer_samples']} samples)")
    return 0
