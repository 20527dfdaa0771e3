"""The ``dmx-usbpro`` adapter writing to a socat pty pair that stands in for the USB interface:
every frame read on the other end is parsed (delimiters, label, length, start code) and the
channels checked for each light state; unplugging is closing socat, replugging restarting it."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import serial
from buzzline.adapters.api import Status

from tests.adapter_kit import host, ok, press, socat, wait_phase


def parse_frames(buf: bytearray) -> tuple[list[bytes], list[str]]:
    """Complete label 6 frames taken off the front of ``buf``: their channels, and any errors."""
    frames, errors = [], []
    while len(buf) >= 5:
        if buf[0] != 0x7E:
            errors.append(f"expected 0x7E, got {buf[0]:#x}")
            del buf[0]
            continue
        n = buf[2] | buf[3] << 8
        if len(buf) < 5 + n:
            break
        if buf[1] != 6:
            errors.append(f"label {buf[1]}, not 6")
        if buf[4 + n] != 0xE7:
            errors.append(f"frame of {n} bytes ends with {buf[4 + n]:#x}, not 0xE7")
        if buf[4] != 0:
            errors.append(f"start code {buf[4]}, not 0")
        if not 25 <= n <= 513:
            errors.append(f"length {n} outside 25..513")
        frames.append(bytes(buf[5 : 4 + n]))
        del buf[: 5 + n]
    return frames, errors


class Wire:
    """The far end of the pty: a thread reading frames as the interface would."""

    def __init__(self, path: Path) -> None:
        self.frames: list[tuple[float, bytes]] = []
        self.errors: list[str] = []
        self._port = serial.Serial(str(path), timeout=0.05)
        self._stop = False
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        buf = bytearray()
        while not self._stop:
            try:
                data = self._port.read(4096)
            except (serial.SerialException, OSError):
                return
            if data:
                buf += data
                frames, errors = parse_frames(buf)
                now = time.monotonic()
                self.frames += [(now, f) for f in frames]
                self.errors += errors

    def close(self) -> None:
        self._stop = True
        self._thread.join(2)
        self._port.close()

    def since(self, t: float) -> list[bytes]:
        return [f for at, f in self.frames if at >= t]


async def unplug(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        await proc.wait()


def seat(frame: bytes, n: int) -> tuple[int, int, int]:
    return frame[3 * n - 3], frame[3 * n - 2], frame[3 * n - 1]


def scaled(col: str, k: float) -> tuple[int, int, int]:
    return tuple(round(int(col[i : i + 2], 16) * k) for i in (0, 2, 4))  # type: ignore[return-value]


async def frames_for(wire: Wire, seconds: float) -> list[bytes]:
    t = time.monotonic()
    await asyncio.sleep(seconds)
    return wire.since(t)


async def until(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_frames_for_each_light_state_and_a_replugged_interface(broker, tmp_path):
    dev, peer = tmp_path / "ttyDMX", tmp_path / "ttyPeer"
    box = await socat(dev, peer)
    wire = Wire(peer)
    try:
        async with host(broker) as svc:
            await svc.adapters.add("dmx", "dmx-usbpro", {"port": str(dev), "seats": 4, "fps": 40})
            inst = svc.adapters.instances["dmx"]
            await until(lambda: inst.status == Status.OK and len(wire.frames) > 3)
            cols = {i["seat"]: i["col"] for i in svc.view()["info"]["podiums"].values()}
            frame = wire.frames[-1][1]
            assert len(frame) == 24  # 4 seats x rgb, padded to the DMX minimum of 24
            for n in (1, 2, 3):
                assert seat(frame, n) == scaled(cols[n], 0.125)  # idle: the seat's colour, dim
            assert seat(frame, 4) == (0, 0, 0)  # nobody plays seat 4

            await ok(svc, "read")
            await press(svc, "p3")  # false start: seat 3 blinks red for its lockout
            got = {seat(f, 3) for f in await frames_for(wire, 0.2)}
            assert {(255, 0, 0), (0, 0, 0)} <= got

            await ok(svc, "arm")
            idle = scaled(cols[1], 0.125)
            await until(lambda: seat(wire.frames[-1][1], 1) != idle)  # the adapter took the notice
            armed = [seat(f, 1) for f in await frames_for(wire, 0.6)]
            low, high = scaled(cols[1], 0.3), scaled(cols[1], 1.0)
            assert len(set(armed)) > 3  # breathing: it moves
            for rgb in armed:
                assert all(lo - 1 <= v <= hi + 1 for v, lo, hi in zip(rgb, low, high, strict=True))

            await press(svc, "p2")
            await wait_phase(svc, "answering")
            await until(lambda: seat(wire.frames[-1][1], 1) == scaled(cols[1], 0.1))
            window = await frames_for(wire, 0.5)
            assert {seat(f, 2) for f in window} == {scaled(cols[2], 1.0), (0, 0, 0)}  # the winner flashes
            assert {seat(f, 1) for f in window} == {scaled(cols[1], 0.1)}  # the others dim
            assert {seat(f, 3) for f in window} == {scaled(cols[3], 0.1)}

            # unplugged: the adapter says so and keeps the show going
            wire.close()
            await unplug(box)
            await until(lambda: inst.status == Status.DISCONNECTED)
            await ok(svc, "judge", correct=True)
            await ok(svc, "next")  # every seat back to idle meanwhile
            # plugged back in: reopened, and the frames show the present
            box = await socat(dev, peer)
            wire = Wire(peer)
            await until(lambda: inst.status == Status.OK and len(wire.frames) > 3)
            for n in (1, 2, 3):
                assert seat(wire.frames[-1][1], n) == scaled(cols[n], 0.125)
            assert inst.adapter is not None and inst.adapter.reopens >= 1  # type: ignore[attr-defined]
            assert wire.errors == []
    finally:
        wire.close()
        await unplug(box)


def test_frame_bytes() -> None:
    from buzzline.adapters.dmx_usbpro import usbpro_frame

    frame = usbpro_frame(bytes(range(24)))
    assert frame[:5] == bytes([0x7E, 6, 25, 0, 0]) and frame[-1] == 0xE7
    assert frame[5:-1] == bytes(range(24))
    with pytest.raises(ValueError):
        usbpro_frame(bytes(513))


class _PipeDevice:
    """A device that takes bytes slowly: the write end of a pipe shrunk to one page."""

    def __init__(self) -> None:
        import fcntl
        import os

        self.r, self.w = os.pipe()
        fcntl.fcntl(self.w, 1031, 4096)  # F_SETPIPE_SZ
        os.set_blocking(self.w, False)

    def fileno(self) -> int:
        return self.w

    def close(self) -> None:
        import os

        os.close(self.w)


async def test_a_slow_device_never_blocks_the_loop_nor_gets_cut_frames() -> None:
    import os

    from buzzline.adapters.dmx_usbpro import DmxUsbProAdapter, usbpro_frame

    class Ctx:
        name = kind = "dmx"

        def set_status(self, *a: Any) -> None:
            pass

    dev = _PipeDevice()
    adapter = DmxUsbProAdapter()
    adapter.ctx = Ctx()  # type: ignore[assignment]
    adapter.config = {"port": "pipe"}
    adapter._serial = dev  # type: ignore[assignment]
    frames = [usbpro_frame(bytes([i]) * 500) for i in range(20)]
    for f in frames:
        adapter._write(f)  # a blocking write would hang here: nobody reads the full pipe yet
    assert adapter._inflight and adapter.superseded > 0
    got = bytearray()
    async with asyncio.timeout(5):
        while adapter._inflight or adapter._next is not None:
            got += os.read(dev.r, 65536)
            await asyncio.sleep(0.01)
    got += os.read(dev.r, 65536)
    parsed, errors = parse_frames(got)
    assert errors == [] and not got  # whole frames only, nothing cut
    assert parsed[-1] == frames[-1][5:-1]  # the newest frame made it
    assert len(parsed) == adapter.frames < len(frames)  # older waiting frames were superseded
    adapter._close()
    os.close(dev.r)


def test_fixture_addresses_and_per_seat_brightness() -> None:
    from buzzline.adapters.api import ConfigError, validate_config
    from buzzline.adapters.dmx_usbpro import DmxUsbProAdapter, fixture_table

    def table(**raw: Any) -> dict[int, tuple[int, float]]:
        return fixture_table(validate_config(DmxUsbProAdapter.CONFIG_SCHEMA, {"port": "x", **raw}))

    assert table(seats=3) == {1: (1, 1.0), 2: (4, 1.0), 3: (7, 1.0)}
    assert table(seats=2, address=33, spacing=8, layout="rgbw") == {1: (33, 1.0), 2: (41, 1.0)}
    got = table(seats=2, fixtures={"2": {"address": 100, "brightness": 0.5}, "5": 200})
    assert got == {1: (1, 1.0), 2: (100, 0.5), 5: (200, 1.0)}
    for bad, why in [
        ({"fixtures": {"two": 5}}, "fixtures.two: a seat number"),
        ({"fixtures": {"1": 511}}, "ends past channel 512"),
        ({"fixtures": {"1": {"brightness": 2}}}, "brightness must be between 0 and 1"),
        ({"fixtures": {"1": {"adress": 5}}}, "unknown keys adress"),
        ({"seats": 128, "layout": "drgbw"}, "ends past channel 512"),
    ]:
        with pytest.raises(ConfigError) as info:
            table(**bad)
        assert why in str(info.value)
