"""A real lighting desk for the benchmarks and tests: headless QLC+ running
examples/qlcplus/buzzline.qxw (its OSC input moved to a free port), with its DMX output read back
over QLC+'s own websocket API (``QLC+API|getChannelsValues``)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType

import websockets

from buzzline.io.broker import udp_bound
from buzzline.lifecycle import wait_or_kill

WORKSPACE = Path(__file__).resolve().parents[3] / "examples" / "qlcplus" / "buzzline.qxw"
PATCH = '<Input Plugin="OSC" UID="127.0.0.1" Line="0"/>'
START_S = 60.0  # QLC+ loads its fixtures and plugins: seconds on a loaded machine


def _free(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _tcp_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class QlcDesk:
    """``async with QlcDesk() as desk``: QLC+ up on ``desk.osc_port`` (UDP, the ``osc`` adapter's
    qlcplus preset) and ``desk.web_port``; ``await desk.channels()`` reads DMX universe 1."""

    def __init__(self, workspace: Path = WORKSPACE) -> None:
        if shutil.which("qlcplus") is None:
            raise FileNotFoundError("qlcplus is not installed (Debian: apt-get install qlcplus)")
        text = workspace.read_text(encoding="utf-8")
        if PATCH not in text:
            raise ValueError(f"{workspace}: no OSC input patched on line 0")
        self.osc_port, self.web_port = _free(socket.SOCK_DGRAM), _free(socket.SOCK_STREAM)
        self._text = text.replace(
            PATCH, PATCH[:-2] + f'><PluginParameters inputPort="{self.osc_port}"/></Input>'
        )
        self._dir = tempfile.TemporaryDirectory(prefix="buzzline-qlc-")
        self.proc: asyncio.subprocess.Process | None = None
        self.ws: websockets.ClientConnection | None = None

    async def __aenter__(self) -> QlcDesk:
        home = Path(self._dir.name)
        ws_file = home / "buzzline.qxw"
        ws_file.write_text(self._text, encoding="utf-8")
        env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
        self.proc = await asyncio.create_subprocess_exec(
            "qlcplus", "-w", "-wp", str(self.web_port), "-p", "-o", str(ws_file),
            env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            async with asyncio.timeout(START_S):
                while not (_tcp_open(self.web_port) and udp_bound(self.osc_port)):
                    if self.proc.returncode is not None:
                        raise RuntimeError(f"qlcplus exited with status {self.proc.returncode}")
                    await asyncio.sleep(0.2)
            self.ws = await websockets.connect(f"ws://127.0.0.1:{self.web_port}/qlcplusWS")
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._stop()

    async def _stop(self) -> None:
        if self.ws is not None:
            await self.ws.close()
            self.ws = None
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await wait_or_kill(self.proc, 10)
        self._dir.cleanup()

    async def channels(self, count: int = 16) -> list[int]:
        """DMX channels 1..count of universe 1, as QLC+ holds them now (one websocket round trip)."""
        assert self.ws is not None
        await self.ws.send(f"QLC+API|getChannelsValues|1|1|{count}")
        async with asyncio.timeout(5):
            while True:
                reply = str(await self.ws.recv())
                if reply.startswith("QLC+API|getChannelsValues|"):
                    break
        fields = reply.split("|")[2:]  # index, value, type for each channel
        return [int(fields[i + 1]) for i in range(0, 3 * count, 3)]

    async def until(self, want: dict[int, int], timeout: float = 10.0, slack: int = 0) -> list[int]:
        """Poll until every channel ``ch`` holds ``want[ch]`` (within ``slack``); the values then."""
        async with asyncio.timeout(timeout):
            while True:
                got = await self.channels()
                if all(abs(got[ch - 1] - v) <= slack for ch, v in want.items()):
                    return got
