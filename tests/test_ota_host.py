"""Firmware updates through the real host: the fleet's push from the operator API, refused
during a question, the podium's progress on its topics, and the host's confirmation once the
new release's clock is trusted (real Mosquitto, real firmware on the unix port)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.ota.fleet import FleetError
from buzzline.ota.release import ReleaseStore, new_key
from buzzline.web.app import build_app
from buzzline.web.releases import ReleaseServer

from tests.ota_kit import variant

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware" / "tools"))
from unixpodium import UnixPodium, build_tree

TOKEN = "t0ken-for-tests"


async def until(pred: Any, timeout: float, what: str) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.05)


async def test_push_from_the_api_is_refused_during_a_question_then_runs_and_is_confirmed(
    broker: Any, tmp_path: Path
) -> None:
    tree = build_tree(tmp_path / "flashed")
    key = bytes.fromhex(new_key())
    store = ReleaseStore(tmp_path / "store")
    (tmp_path / "work").mkdir()
    v2 = variant(store, key, tree, tmp_path / "work", "unix", "0.2.0", "OTA_MARK = 2")
    async with (
        HostService(broker.host, broker.port, "s1") as svc,
        ReleaseServer(store, "127.0.0.1", free_port()) as srv,
    ):
        svc.fleet.store, svc.fleet.url = store, srv.url
        p = UnixPodium(
            tree, tmp_path / "p1", broker.port, studio="s1", extra={"fwkey": key.hex()}, heap="128k"
        )
        await asyncio.to_thread(p.start)
        api = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=build_app(svc, TOKEN)), base_url="http://host"
        )
        auth = {"authorization": f"Bearer {TOKEN}"}
        try:
            await until(lambda: "p1" in svc.fleet.podiums and svc.fleet.podiums["p1"].board, 15, "hello")
            [row] = (await api.get("/api/fleet", headers=auth)).json()["podiums"]
            assert row["rel"] == "" and row["available"] == {"digest": v2, "version": "0.2.0"}
            await svc.command("read")
            r = await api.post("/api/fleet/push", json={"podiums": ["p1"]}, headers=auth)
            assert r.status_code == 409 and "question" in r.json()["error"]
            assert (await api.post("/api/fleet/push", json={})).status_code == 401
            await svc.command("undo")
            r = await api.post("/api/fleet/push", json={"podiums": ["p1"], "release": "0.2.0"}, headers=auth)
            assert r.status_code == 200, r.text
            # switched, rebooted, trial; the host confirms once the new boot's clock is trusted
            await until(lambda: svc.fleet.podiums["p1"].step == "good", 40, "confirmed")
            fw = svc.fleet.podiums["p1"]
            assert fw.rel == v2[:16] and fw.ver == "0.2.0" and fw.err is None
            with pytest.raises(FleetError, match="has not said hello"):
                svc.firmware("rollback", ["p9"])
            [row] = (await api.get("/api/fleet", headers=auth)).json()["podiums"]
            assert row["available"] is None and row["step"] == "good" and srv.sent["p1"] > 0
        finally:
            await api.aclose()
            await asyncio.to_thread(p.stop)


async def test_console_fleet_panel_shows_releases_and_sends_update_and_rollback(
    broker: Any, tmp_path: Path
) -> None:
    from buzzline.benchmarks.viewer import CHROMIUM, CHROMIUM_ARGS
    from buzzline.web.app import serve_operator_api
    from playwright.async_api import async_playwright, expect
    from unixpodium import Bus

    store = ReleaseStore(tmp_path / "store")
    (tmp_path / "t" / "lib").mkdir(parents=True)
    (tmp_path / "t" / "lib" / "x.mpy").write_bytes(b"x")
    m, _ = store.add(tmp_path / "t", "unix", "0.2.0", bytes.fromhex(new_key()))
    bus = Bus(broker.port, "buzzline/s1/podium/+/fw").connect()
    async with HostService(broker.host, broker.port, "s1") as svc, async_playwright() as pw:
        svc.fleet.store, svc.fleet.url = store, "http://127.0.0.1:9/fw"
        hello = {
            "t": "hello",
            "id": "p1",
            "b": 5,
            "seq": 0,
            "pt": 1,
            "hw": "x",
            "board": "unix",
            "fw": "0.1.0",
        }
        svc.fleet.inbound("p1", "up", hello, False)  # what the podium's hello tells the host
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await b.new_page(viewport={"width": 1400, "height": 1200})
            page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
            await page.goto(f"http://127.0.0.1:{api.server.config.port}/console#token={TOKEN}")
            row = page.locator('#fleet tr[data-podium="p1"]')
            await expect(row.locator(".release")).to_have_text("0.1.0 · flashed")
            await expect(row.locator(".available")).to_have_text(f"0.2.0 · {m.digest[:8]}")
            await row.locator("button.update").click()
            await expect(row.locator("progress")).to_be_visible()
            got = await asyncio.to_thread(bus.wait_for, lambda t, msg: msg["t"] == "update", 5.0, "update")
            assert got["man"] == m.digest and got["ver"] == "0.2.0"
            # the podium switched and its new release was confirmed: the row says so
            svc.fleet.inbound("p1", "up", {**hello, "b": 6, "fw": "0.2.0", "rel": m.digest[:16]}, False)
            good = {"t": "fwst", "id": "p1", "b": 6, "step": "good", "ver": "0.2.0", "rel": m.digest[:16]}
            svc.fleet.inbound("p1", "fwst", good, False)
            await expect(row.locator(".release")).to_have_text(f"0.2.0 · {m.digest[:8]}")
            await expect(row.locator(".outcome")).to_have_text("good")
            await row.locator("button.rollback").click()
            await asyncio.to_thread(bus.wait_for, lambda t, msg: msg["t"] == "rollback", 5.0, "rollback")
        finally:
            await b.close()
            await api.close()
            bus.close()
