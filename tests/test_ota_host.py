"""Firmware updates through the real host: the fleet's push from the operator API, refused
during a question, the podium's progress on its topics, and the host's confirmation once the
new release's clock is trusted (real Mosquitto, real firmware on the unix port)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.commands.host import command_line
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.ota.fleet import FleetError
from buzzline.ota.release import ReleaseStore, new_key
from buzzline.web.app import build_app
from buzzline.web.releases import ReleaseServer

from tests.ota_kit import variant

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "firmware" / "tools"))
from unixpodium import Bus, UnixPodium, build_tree

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
        p = UnixPodium(tree, tmp_path / "p1", broker.port, studio="s1", extra={"fwkey": key.hex()})  # 96 KB
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


def test_host_killed_mid_transfer_and_started_again_the_update_completes(broker: Any, tmp_path: Path) -> None:
    """The real `buzzline host` process serving releases is SIGKILLed while a podium is fetching
    a release, and started again: the podium waits on its old release, whole, goes on where it
    stopped once the host is back, and the restarted host confirms the new release."""
    tree = build_tree(tmp_path / "flashed")
    key = bytes.fromhex(new_key())
    store = ReleaseStore(tmp_path / "store")
    (tmp_path / "work").mkdir()
    # six modules changed: six files to fetch, one after the other
    modules = tuple(f"podium/{m}.py" for m in ("lights", "button", "clock", "wire", "config", "selftest"))
    v2 = variant(store, key, tree, tmp_path / "work", "unix", "0.2.0", "OTA_MARK = 2", modules)
    fw_port, api_port = free_port(), free_port()
    argv = [
        *command_line(broker.address, "s1", http=api_port, token=TOKEN),
        "--releases", str(tmp_path / "store"), "--fw-port", str(fw_port), "--fw-bind", "127.0.0.1",
        "--fw-url", f"http://127.0.0.1:{fw_port}/fw", "--quiet",
    ]  # fmt: skip
    out = open(tmp_path / "host.out", "ab")  # noqa: SIM115  (both host processes write to it)
    host = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    # a pause per 512-byte chunk read: the six files take seconds, so the kill lands among them
    p = UnixPodium(
        tree, tmp_path / "p1", broker.port, studio="s1", extra={"fwkey": key.hex(), "ota_pace_ms": 200}
    )
    api = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"authorization": f"Bearer {TOKEN}"})
    bus = Bus(broker.port).connect()

    def fleet() -> dict[str, Any]:
        try:
            rows = api.get("/api/fleet").json()["podiums"]
        except httpx.HTTPError:
            return {}
        return next((r for r in rows if r["id"] == "p1"), {})

    def gets() -> list[str]:
        return [ln for ln in p.lines if ln.startswith("update: GET /f/")]

    try:
        p.start()
        p.wait(lambda: fleet().get("board") == "unix", 30, "the host to hear the podium")
        assert api.post("/api/fleet/push", json={"podiums": ["p1"]}).status_code == 200
        p.wait(lambda: len(gets()) >= 2, 60, "the second file under way")
        host.kill()  # the host process, release server and all, mid-release
        host.wait(10)
        p.wait(lambda: any("update: retrying" in line for line in p.lines), 30, "the podium to retry")
        ptr = json.loads((p.workdir / "fw" / "cur").read_text())
        assert ptr["cur"] == "" and not (p.workdir / "fw" / "r" / v2[:16]).exists()  # still the old one
        host = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        p.wait(lambda: fleet().get("step") == "good" and fleet().get("rel") == v2[:16], 120, "confirmed")
        # went on where it stopped: what was fetched before the kill was not fetched again
        changed = sum(f.size for f in store.manifest(v2).files if f.path[4:-4] + ".py" in modules)
        assert fleet()["got"] <= changed + len(store.manifest_bytes(v2)), gets()
        # the new release is whole: every file of its manifest, each matching its SHA-256, nothing else
        ptr = json.loads((p.workdir / "fw" / "cur").read_text())
        assert ptr["cur"] == v2[:16] and ptr["good"] == 1
        folder = p.workdir / "fw" / "r" / v2[:16]
        files = {f.path: f.sha256 for f in store.manifest(v2).files}
        on_disk = {str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file()} - {"manifest"}
        assert on_disk == set(files)
        for path, sha in files.items():
            assert hashlib.sha256((folder / path).read_bytes()).hexdigest() == sha, path
        p.connect_harness()
        n = len(bus.find(lambda t, m: m["t"] == "buzz"))
        p.cmd("press")
        p.cmd("release")
        bus.wait_for(lambda t, m: len(bus.find(lambda t2, m2: m2["t"] == "buzz")) > n, 10, "a press")
    finally:
        bus.close()
        api.close()
        p.stop()
        if host.poll() is None:
            host.send_signal(signal.SIGINT)
            try:
                host.wait(10)
            except subprocess.TimeoutExpired:
                host.kill()
        out.close()
