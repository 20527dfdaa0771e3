"""A real lighting desk: headless QLC+ with examples/qlcplus/buzzline.qxw, driven by the ``osc``
adapter's qlcplus preset, its DMX read back over QLC+'s websocket API. One desk start (slow)."""

from __future__ import annotations

from buzzline.benchmarks._qlcplus import QlcDesk
from buzzline.core.show import AdapterSpec
from buzzline.io.broker import free_port
from buzzline.preflight import adapter_findings

from tests.adapter_kit import host, need, ok, press, wait_phase


async def test_a_buzz_lights_its_seat_on_a_real_qlcplus_desk(broker):
    need("qlcplus")
    async with QlcDesk() as desk, host(broker) as svc:
        # the pre-show check asks the running desk: its OSC port held, its web interface up
        settings = {"preset": "qlcplus", "port": desk.osc_port, "web": f"127.0.0.1:{desk.web_port}"}
        assert await adapter_findings([AdapterSpec("desk", "osc", settings)]) == []
        gone = {**settings, "web": f"127.0.0.1:{free_port()}"}
        (f,) = await adapter_findings([AdapterSpec("desk", "osc", gone)])
        assert f.level == "warning" and "connection refused" in f.what and f.what.startswith("web interface")
        await svc.adapters.add("desk", "osc", {"preset": "qlcplus", "port": desk.osc_port})
        # on start the desk gets the whole state: every seat's colour on its RGB channels
        pods = svc.view()["info"]["podiums"]
        colours = {pods[p]["seat"]: pods[p]["col"] for p in pods}
        want = {}
        for seat, col in colours.items():
            for i in range(3):
                want[4 * seat - 2 + i] = int(col[2 * i : 2 * i + 2], 16)
        got = await desk.until(want, slack=1)
        assert [got[4 * s - 4] for s in (1, 2, 3, 4)] == [0, 0, 0, 0]  # nobody is the winner

        await ok(svc, "read")
        await ok(svc, "arm")
        await press(svc, "p2")
        await wait_phase(svc, "answering")
        got = await desk.until({5: 255})  # seat 2's intensity
        assert got[0] == 0 and got[8] == 0  # seats 1 and 3 stay dark

        await ok(svc, "judge", correct=False)
        await press(svc, "p1")
        await wait_phase(svc, "answering")
        got = await desk.until({1: 255, 5: 0})
        assert got[8] == 0

        await ok(svc, "judge", correct=True)
        await ok(svc, "next")  # the next question resets every seat
        await desk.until({1: 0, 5: 0, 9: 0, 13: 0})
