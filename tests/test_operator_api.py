"""The operator API over HTTP: the token guards commands, refusals carry their reason."""

from __future__ import annotations

import asyncio

import httpx
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.io.operator_api import serve_operator_api
from buzzline.sim.podium import VirtualPodium


async def test_commands_need_the_token_and_refusals_say_why(broker):
    async with HostService(broker.host, broker.port, "api") as svc:
        port = free_port()
        api = await serve_operator_api(svc, "127.0.0.1", port, token="sesame")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                state = (await http.get("/api/state")).json()
                assert state["game"]["phase"] == "idle"
                assert state["connected"] is True

                r = await http.post("/api/command", json={"name": "read"})
                assert r.status_code == 401
                assert svc.engine.view()["phase"] == "idle"  # nothing happened

                auth = {"authorization": "Bearer sesame"}
                r = await http.post(
                    "/api/command", json={"name": "judge", "args": {"correct": True}}, headers=auth
                )
                assert r.status_code == 409
                assert r.json()["refused"]  # a reason a person can read

                r = await http.post("/api/command", content=b"{not json", headers=auth)
                assert r.status_code == 400

                r = await http.post("/api/command", json={"name": "read"}, headers=auth)
                assert r.status_code == 409
                assert "no podium" in r.json()["refused"]
                async with VirtualPodium("p1", broker.host, broker.port, "api"):
                    async with asyncio.timeout(5):  # assigned on hello
                        while not (await http.get("/api/state")).json()["game"]["info"]["podiums"].get("p1"):
                            await asyncio.sleep(0.02)
                    r = await http.post("/api/command", json={"name": "read"}, headers=auth)
                    assert r.status_code == 200, r.text
                    assert r.json()["ok"] is True
                    assert (await http.get("/api/state")).json()["game"]["phase"] == "reading"
        finally:
            await api.close()
