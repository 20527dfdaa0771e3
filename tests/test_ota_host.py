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
from buzzline.io.operator_api import build_app
from buzzline.ota.fleet import FleetError
from buzzline.ota.release import ReleaseStore, new_key
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
