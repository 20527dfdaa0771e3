"""The ``dmx-usbpro`` adapter: one RGB(W) fixture per seat on an Enttec DMX USB Pro compatible
interface, for studios without a lighting desk.

Each podium's light (as its firmware shows it, followed by ``stage``) becomes a look on its
seat's fixture: a colour, a level and a motion (solid, flash, breathing). Frames are the USB
Pro's label 6 "Output Only Send DMX Packet": ``0x7E``, label ``6``, data length (LSB, MSB), the
DMX start code ``0`` and the channels, ``0xE7``. A frame goes out at ``fps``, and at once when a
notice changes what the fixtures show. When the device goes away (unplugged, EIO) the status is
``disconnected`` and the port is reopened every ``reopen_s`` until it is back.
docs/adapters/dmx-usbpro.md has every setting.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import time
from collections.abc import Mapping
from typing import Any, NamedTuple

import serial

from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Notice, Problem, Status
from buzzline.adapters.stage import PATTERNS, Stage, rgb
from buzzline.hosttime import now_us

START, LABEL_SEND_DMX, END = 0x7E, 6, 0xE7
LAYOUTS = ("rgb", "rgbw", "drgb", "drgbw")  # d: a dimmer channel first, w: a white channel last


def usbpro_frame(channels: bytes | bytearray) -> bytes:
    """A label 6 message carrying DMX start code 0 and ``channels`` (24 to 512 of them)."""
    if not 24 <= len(channels) <= 512:
        raise ValueError(f"a DMX frame carries 24 to 512 channels, not {len(channels)}")
    n = len(channels) + 1
    return bytes((START, LABEL_SEND_DMX, n & 0xFF, n >> 8, 0)) + bytes(channels) + bytes((END,))


class Look(NamedTuple):
    """How a light pattern looks on a fixture: ``colour`` is rrggbb, ``own`` (the seat's) or
    ``cmd`` (the light command's); ``level`` 0-1; ``on_ms``/``off_ms`` flash it; ``breathe_ms``
    fades it between ``low`` and ``level``."""

    colour: str = "own"
    level: float = 1.0
    on_ms: int = 0
    off_ms: int = 0
    breathe_ms: int = 0
    low: float = 0.2


LOOKS: dict[str, Look] = {
    "off": Look("000000", 0.0),
    "idle": Look("own", 0.125),
    "armed": Look("own", 1.0, breathe_ms=2000, low=0.3),
    "winner": Look("own", 1.0, on_ms=150, off_ms=150),
    "locked": Look("own", 0.1),
    "false": Look("ff0000", 1.0, on_ms=80, off_ms=80),
    "identify": Look("ffffff", 1.0, on_ms=100, off_ms=100),
    "solid": Look("cmd", 1.0),
    "blink": Look("cmd", 1.0, on_ms=500, off_ms=500),
}


def parse_looks(raw: Mapping[str, Any]) -> dict[str, Look]:
    out = dict(LOOKS)
    for pat, spec in raw.items():
        if pat not in PATTERNS:
            raise ConfigError(f"looks.{pat}", f"unknown light pattern (known: {', '.join(PATTERNS)})")
        if not isinstance(spec, Mapping):
            raise ConfigError(
                f"looks.{pat}", "expected a table (colour, level, on_ms, off_ms, breathe_ms, low)"
            )
        try:
            look = out[pat]._replace(**dict(spec))
        except (TypeError, ValueError) as e:
            raise ConfigError(f"looks.{pat}", f"unknown key: {e}") from e
        col = look.colour
        if col not in ("own", "cmd") and (
            len(col) != 6 or any(c not in "0123456789abcdefABCDEF" for c in col)
        ):
            raise ConfigError(f"looks.{pat}", f"colour must be rrggbb, own or cmd, not {col!r}")
        for key in ("level", "low"):
            v = getattr(look, key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
                raise ConfigError(f"looks.{pat}", f"{key} must be between 0 and 1")
        for key in ("on_ms", "off_ms", "breathe_ms"):
            v = getattr(look, key)
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ConfigError(f"looks.{pat}", f"{key} must be a whole number of ms, 0 or more")
        out[pat] = look
    return out


def look_rgb(
    look: Look, own: str | None, cmd: str | None, t_ms: float, brightness: float
) -> tuple[int, int, int]:
    """The fixture's colour at ``t_ms`` into the look."""
    col = own if look.colour == "own" else cmd if look.colour == "cmd" else look.colour
    level = look.level
    if look.on_ms and look.off_ms and t_ms % (look.on_ms + look.off_ms) >= look.on_ms:
        level = 0.0
    elif look.breathe_ms:
        phase = (t_ms % look.breathe_ms) / look.breathe_ms
        level = look.low + (look.level - look.low) * (0.5 - 0.5 * math.cos(2 * math.pi * phase))
    k = level * brightness
    r, g, b = rgb(col)
    return round(r * k), round(g * k), round(b * k)


def fixture_channels(layout: str, r: int, g: int, b: int) -> list[int]:
    """The channel values of one fixture: white takes what r, g and b share; the dimmer is full."""
    w = min(r, g, b) if "w" in layout else 0
    out = [r - w, g - w, b - w] if "w" in layout else [r, g, b]
    if "w" in layout:
        out.append(w)
    if layout.startswith("d"):
        out.insert(0, 255)
    return out


def fixture_table(config: Mapping[str, Any]) -> dict[int, tuple[int, float]]:
    """Seat -> (start address, brightness): ``seats`` fixtures from ``address``, ``spacing``
    apart, then the ``fixtures`` table over them (``"2" = 40`` or ``"2" = {address = 40,
    brightness = 0.5}``)."""
    size = len(config["layout"])
    spacing = config["spacing"] or size
    out = {n: (config["address"] + spacing * (n - 1), 1.0) for n in range(1, config["seats"] + 1)}
    for key, spec in config["fixtures"].items():
        where = f"fixtures.{key}"
        if not str(key).isdigit() or not 1 <= int(key) <= 512:
            raise ConfigError(where, "a seat number, 1 or more")
        address, bright = out.get(int(key), (0, 1.0))
        if isinstance(spec, Mapping):
            unknown = set(spec) - {"address", "brightness"}
            if unknown:
                raise ConfigError(where, f"unknown keys {', '.join(sorted(unknown))} (address, brightness)")
            address, bright = spec.get("address", address), spec.get("brightness", bright)
        else:
            address = spec
        if isinstance(bright, bool) or not isinstance(bright, int | float) or not 0 <= bright <= 1:
            raise ConfigError(where, "brightness must be between 0 and 1")
        if isinstance(address, bool) or not isinstance(address, int) or address < 1:
            raise ConfigError(where, "a start address from 1 to 512")
        out[int(key)] = (address, float(bright))
    for seat, (address, _) in out.items():
        if address + size - 1 > 512:
            raise ConfigError("fixtures", f"seat {seat}'s fixture at {address} ends past channel 512")
    return out


class DmxUsbProAdapter(Adapter):
    KIND = "dmx-usbpro"
    TITLE = "DMX out: one RGB(W) fixture per seat on an Enttec DMX USB Pro"
    CONFIG_SCHEMA = (
        Field("port", "str", required=True, help="the serial device, e.g. /dev/ttyUSB0"),
        Field("fps", "float", 30.0, "frames per second (a change goes out at once too)", min=1, max=44),
        Field("address", "int", 1, "DMX start address of seat 1's fixture", min=1, max=512),
        Field(
            "spacing", "int", 0, "channels from one seat's fixture to the next (0: the layout's size)", min=0
        ),
        Field("seats", "int", 8, "how many seats have a fixture", min=1, max=128),
        Field("layout", "choice", "rgb", "the fixture's channels", choices=LAYOUTS),
        Field("brightness", "float", 1.0, "scales every level", min=0, max=1),
        Field("fixtures", "table", {}, "per seat: a start address, or {address, brightness}"),
        Field("looks", "table", {}, "per light pattern: colour, level, on_ms, off_ms, breathe_ms, low"),
        Field("reopen_s", "float", 0.5, "how often to retry a device that went away", min=0.05, max=30),
        Field("on_change", "bool", True, "send a frame at once when a notice changes the output"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.stage = Stage()
        self.frames = 0
        self.changes = 0  # frames sent at once because a notice changed the output
        self.reopens = 0
        self._serial: serial.Serial | None = None
        self._inflight = b""  # the rest of a frame the device could not take at once
        self._next: bytes | None = None  # the newest frame, waiting for that one
        self.superseded = 0
        self._last: bytes = b""
        self._began: dict[int, tuple[str, str | None, float]] = {}  # seat -> (pattern, col, since)
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._bad = False

    @classmethod
    async def preflight(cls, config: dict[str, Any]) -> list[Problem]:
        """The looks and fixtures ``start`` checks, and the serial device present."""
        try:
            parse_looks(config["looks"])
            fixture_table(config)
        except ConfigError as e:
            return [Problem("error", str(e))]
        if not os.path.exists(config["port"]):
            return [
                Problem(
                    "error", f"no device at {config['port']}", "plug the interface in; ls /dev/serial/by-id"
                )
            ]
        return []

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        self._bad = False  # a reconfigure starts again
        try:
            self.looks = parse_looks(config["looks"])
            self.fixtures = fixture_table(config)
        except ConfigError as e:
            self._bad = True
            ctx.set_status(Status.BAD_CONFIG, str(e))
            return
        size = len(config["layout"])
        self.width = max(24, max(a + size - 1 for a, _ in self.fixtures.values()))
        ctx.set_status(Status.CONNECTING, config["port"])
        self._open()
        self._task = asyncio.create_task(self._loop(), name=f"dmx:{ctx.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._close()

    async def handle(self, notice: Notice) -> None:
        if self._bad:
            return
        self.stage.apply(notice, now_us())
        if not self.config["on_change"]:
            return  # the next refresh shows it
        frame = self.render(time.monotonic())
        if frame != self._last:
            self.changes += 1
            self._write(frame)
            self._wake.set()  # the refresh counts from this frame

    # ---- frames ----------------------------------------------------------------------------------
    def render(self, now: float) -> bytes:
        """The whole frame at monotonic time ``now``."""
        chans = bytearray(self.width)
        now_us = int(now * 1e6)
        seats = self.stage.seats()
        for seat, (address, bright) in self.fixtures.items():
            pid = seats.get(seat)
            if pid is None:
                continue
            pat, col = self.stage.shown(pid, now_us)
            began = self._began.get(seat)
            if began is None or began[:2] != (pat, col):
                began = (pat, col, now)  # a motion starts from its beginning
                self._began[seat] = began
            own = self.stage.podiums().get(pid, {}).get("col")
            look = self.looks.get(pat, LOOKS["off"])
            r, g, b = look_rgb(look, own, col, (now - began[2]) * 1000, self.config["brightness"] * bright)
            for i, v in enumerate(fixture_channels(self.config["layout"], r, g, b)):
                chans[address - 1 + i] = v
        return usbpro_frame(chans)

    def _write(self, frame: bytes) -> None:
        """Send a frame without ever blocking the event loop. A frame the device cannot take at
        once is finished when it can (``add_writer``); meanwhile the newest frame waits, so frames
        are never cut or interleaved and an older waiting frame is superseded."""
        self._last = frame
        if self._serial is None:
            return
        if self._inflight:
            if self._next is not None:
                self.superseded += 1
            self._next = frame
            return
        self._push(frame)

    def _push(self, data: bytes) -> None:
        assert self._serial is not None
        fd = self._serial.fileno()
        try:
            n = os.write(fd, data)
        except BlockingIOError:
            n = 0
        except OSError as e:
            self._lost(e)
            return
        if n == len(data):
            self.frames += 1
            return
        self._inflight = data[n:]
        asyncio.get_running_loop().add_writer(fd, self._drain)

    def _drain(self) -> None:
        if self._serial is None:
            return
        fd = self._serial.fileno()
        try:
            n = os.write(fd, self._inflight)
        except BlockingIOError:
            return
        except OSError as e:
            self._lost(e)
            return
        self._inflight = self._inflight[n:]
        if self._inflight:
            return
        self.frames += 1
        asyncio.get_running_loop().remove_writer(fd)
        nxt, self._next = self._next, None
        if nxt is not None:
            self._push(nxt)

    def _lost(self, e: OSError) -> None:
        self._close()
        self.ctx.set_status(Status.DISCONNECTED, f"{self.config['port']}: {e.strerror or e}")

    # ---- the device ------------------------------------------------------------------------------
    def _open(self) -> bool:
        try:
            self._serial = serial.Serial(self.config["port"], baudrate=57600, timeout=0, write_timeout=0)
            os.set_blocking(self._serial.fileno(), False)
        except (serial.SerialException, OSError) as e:
            self._serial = None
            self.ctx.set_status(Status.DISCONNECTED, f"{self.config['port']}: {e}")
            return False
        self.ctx.set_status(Status.OK, self.config["port"])
        return True

    def _close(self) -> None:
        if self._serial is not None:
            if self._inflight:
                with contextlib.suppress(Exception):
                    asyncio.get_running_loop().remove_writer(self._serial.fileno())
            with contextlib.suppress(Exception):
                self._serial.close()
            self._serial = None
        self._inflight = b""
        self._next = None

    async def _loop(self) -> None:
        period = 1 / self.config["fps"]
        next_reopen = 0.0
        while True:
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()
            if self._wake.is_set():
                continue  # a change just went out: the next refresh is a period after it
            now = time.monotonic()
            if self._serial is None:
                if now >= next_reopen:
                    next_reopen = now + self.config["reopen_s"]
                    if self._open():
                        self.reopens += 1
                if self._serial is None:
                    continue
            self._write(self.render(now))
