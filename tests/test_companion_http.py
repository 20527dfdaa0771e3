"""The Companion button setup of docs/adapters/companion.md, request for request: POST with the
default body `{}`, the token in a header, one URL per button, against a real host and API."""

from __future__ import annotations

import httpx
from buzzline.io.broker import free_port
from buzzline.sim.podium import VirtualPodium
from buzzline.web.app import serve_operator_api

from tests.adapter_kit import host, press, wait_phase
from tests.test_osc_control import until

HEADERS = {"Authorization": "Bearer sesame", "Content-Type": "application/json"}


async def test_companion_http_buttons_run_a_question(broker):
    async with host(broker, "companion") as svc:
        port = free_port()
        api = await serve_operator_api(svc, "127.0.0.1", port, token="sesame")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:

                async def button(url: str, status: int = 200) -> httpx.Response:
                    r = await http.post(url, content=b"{}", headers=HEADERS)
                    assert r.status_code == status, r.text
                    return r

                r = await button("/api/cmd/judge/right", 409)  # nobody answers yet
                assert r.json()["ok"] is False and "nobody is answering" in r.json()["refused"]
                await button("/api/cmd/read")
                await button("/api/cmd/arm")
                await press(svc, "p2")
                await wait_phase(svc, "answering")
                await button("/api/cmd/judge/wrong")
                await press(svc, "p1")
                await wait_phase(svc, "answering")
                await button("/api/cmd/judge/right")
                await button("/api/cmd/adjust?player=Player%202&delta=100")
                assert svc.view()["scores"] == {"Player 1": 100, "Player 2": 0, "Player 3": 0}
                await button("/api/cmd/undo")
                await button("/api/cmd/next")
                assert svc.view()["phase"] == "idle" and svc.view()["q"] == 2
                async with VirtualPodium("p9", broker.host, broker.port, "companion") as pod:
                    await until(lambda: svc.registry.get("p9").online)
                    await button("/api/cmd/identify?podium=p9")
                    await until(lambda: any(c["t"] == "ident" for c in pod.commands))  # it blinks
                # without the token nothing happens
                r = await http.post("/api/cmd/read", content=b"{}")
                assert r.status_code == 401 and svc.view()["phase"] == "idle"
        finally:
            await api.close()
