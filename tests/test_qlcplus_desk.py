"""A real lighting desk: headless QLC+ with examples/qlcplus/buzzline.qxw, driven by the ``osc``
adapter's qlcplus preset, its DMX read back over QLC+'s websocket API. One desk start (slow)."""

from __future__ import annotations

import asyncio
import os
import socket
from pathlib import Path

import websockets
from buzzline.io.broker import free_port

from tests.adapter_kit import free_udp_port, host, need, ok, press, udp_bound, wait_phase

ROOT = Path(__file__).resolve().parent.parent
WORKSPACE = ROOT / "examples" / "qlcplus" / "buzzline.qxw"
PATCH = '<Input Plugin="OSC" UID="127.0.0.1" Line="0"/>'


def _tcp_open(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


async def channels(ws: websockets.ClientConnection, count: int = 16) -> list[int]:
    """DMX channels 1..count of universe 1, as QLC+ holds them."""
    await ws.send(f"QLC+API|getChannelsValues|1|1|{count}")
    async with asyncio.timeout(5):
        while True:
            reply = str(await ws.recv())
            if reply.startswith("QLC+API|getChannelsValues|"):
                break
    fields = reply.split("|")[2:]  # index, value, type for each channel
    return [int(fields[i + 1]) for i in range(0, 3 * count, 3)]


async def until_dmx(
    ws: websockets.ClientConnection, want: dict[int, int], timeout: float = 10.0
) -> list[int]:
    async with asyncio.timeout(timeout):
        while True:
            got = await channels(ws)
            if all(got[ch - 1] == v for ch, v in want.items()):
                return got
            await asyncio.sleep(0.05)


async def test_a_buzz_lights_its_seat_on_a_real_qlcplus_desk(broker, tmp_path):
    need("qlcplus")
    osc_port, web_port = free_udp_port(), free_port()
    # the example workspace, listening on a free port instead of 7700
    text = WORKSPACE.read_text()
    assert PATCH in text
    ws_file = tmp_path / "buzzline.qxw"
    ws_file.write_text(
        text.replace(PATCH, PATCH[:-2] + f'><PluginParameters inputPort="{osc_port}"/></Input>')
    )
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "QT_QPA_PLATFORM": "offscreen"}
    desk = await asyncio.create_subprocess_exec(
        "qlcplus", "-w", "-wp", str(web_port), "-p", "-o", str(ws_file),
        env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        async with asyncio.timeout(60):
            while not (_tcp_open(web_port) and udp_bound(osc_port)):
                assert desk.returncode is None, "qlcplus exited"
                await asyncio.sleep(0.2)
        async with (
            websockets.connect(f"ws://127.0.0.1:{web_port}/qlcplusWS") as ws,
            host(broker) as svc,
        ):
            await svc.adapters.add("desk", "osc", {"preset": "qlcplus", "port": osc_port})
            # on start the desk gets the whole state: every seat's colour on its RGB channels
            pods = svc.view()["info"]["podiums"]
            colours = {pods[p]["seat"]: pods[p]["col"] for p in pods}
            want = {}
            for seat, col in colours.items():
                for i in range(3):
                    want[4 * seat - 2 + i] = int(col[2 * i : 2 * i + 2], 16)
            async with asyncio.timeout(10):
                while True:
                    got = await channels(ws)
                    if all(abs(got[ch - 1] - v) <= 1 for ch, v in want.items()):
                        break
                    await asyncio.sleep(0.05)
            assert [got[4 * s - 4] for s in (1, 2, 3, 4)] == [0, 0, 0, 0]  # nobody is the winner

            await ok(svc, "read")
            await ok(svc, "arm")
            await press(svc, "p2")
            await wait_phase(svc, "answering")
            got = await until_dmx(ws, {5: 255})  # seat 2's intensity
            assert got[0] == 0 and got[8] == 0  # seats 1 and 3 stay dark

            await ok(svc, "judge", correct=False)
            await press(svc, "p1")
            await wait_phase(svc, "answering")
            got = await until_dmx(ws, {1: 255, 5: 0})
            assert got[8] == 0

            await ok(svc, "judge", correct=True)
            await ok(svc, "next")  # the next question resets every seat
            got = await until_dmx(ws, {1: 0, 5: 0, 9: 0, 13: 0})
    finally:
        if desk.returncode is None:
            desk.terminate()
            try:
                async with asyncio.timeout(10):
                    await desk.wait()
            except TimeoutError:
                desk.kill()
                await desk.wait()
