"""The operator API with a real host and broker: login sessions and CSRF, one URL per command,
hot-plugged adapters, OpenAPI covering every route, and /metrics matching the show played."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.adapters.api import Adapter, Field, Notice, Status
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.sim.podium import VirtualPodium
from buzzline.web.app import OperatorServer, serve_operator_api
from prometheus_client.parser import text_string_to_metric_families

TOKEN = "open-sesame"
BEARER = {"authorization": f"Bearer {TOKEN}"}


class Probe(Adapter):
    """Counts notices; ``fail_on_start`` makes it crash (for the error status)."""

    KIND = "probe"
    CONFIG_SCHEMA = (
        Field("label", "str", default="x", help="any text"),
        Field("rate", "int", default=1, min=1, max=10),
    )
    seen: list[int] = []

    async def handle(self, notice: Notice) -> None:
        Probe.seen.append(notice.seq)


@pytest.fixture
async def host(broker: Any) -> AsyncIterator[tuple[HostService, OperatorServer, httpx.AsyncClient]]:
    async with HostService(broker.host, broker.port, "web") as svc:
        svc.adapters._kinds = {"probe": Probe}  # the manager's test hook: a kind without installing it
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        port = api.server.config.port
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                yield svc, api, http
        finally:
            await api.close()


async def _podium(svc: HostService, broker: Any, pid: str) -> VirtualPodium:
    p = VirtualPodium(pid, broker.host, broker.port, "web")
    await p.start()
    async with asyncio.timeout(5):
        while pid not in svc.engine.g.podiums:
            await asyncio.sleep(0.02)
    return p


async def test_console_session_needs_csrf_and_ends_at_logout(host):
    svc, _, http = host
    assert (await http.get("/console")).status_code == 401  # the login form, not the console
    assert (await http.post("/api/command", json={"name": "end"})).status_code == 401
    assert (await http.post("/console/login", data={"token": "wrong"})).status_code == 401
    assert (await http.get("/api/live")).status_code == 401

    r = await http.post("/console/login", data={"token": TOKEN})
    assert r.status_code == 303 and r.headers["location"] == "/console"
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie
    page = await http.get("/console")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["content-security-policy"]
    csrf = (await http.get("/console/session")).json()["csrf"]
    assert f'content="{csrf}"' in page.text

    # the cookie alone does not command (a page on another site could make the browser send it)
    r = await http.post("/api/command", json={"name": "end"})
    assert r.status_code == 403 and "CSRF" in r.json()["error"]
    r = await http.post("/api/command", json={"name": "end"}, headers={"x-csrf-token": "guess"})
    assert r.status_code == 403
    assert svc.engine.view()["phase"] == "idle"
    r = await http.post("/api/command", json={"name": "end"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 200, r.text
    assert svc.engine.view()["phase"] == "ended"

    assert (await http.post("/console/logout", headers={"x-csrf-token": csrf})).status_code == 200
    assert (await http.get("/console")).status_code == 401
    r = await http.post("/api/command", json={"name": "undo"}, headers={"x-csrf-token": csrf})
    assert r.status_code == 401
    assert svc.engine.view()["phase"] == "ended"


async def test_one_url_per_command_for_companion(host, broker):
    svc, _, http = host
    assert (await http.post("/api/cmd/read")).status_code == 401
    r = await http.post("/api/cmd/read", headers=BEARER)
    assert r.status_code == 409 and "no podium" in r.json()["refused"]
    assert (await http.post("/api/cmd/fly", headers=BEARER)).status_code == 404
    p1 = await _podium(svc, broker, "p1")
    try:
        for path, phase in [("read", "reading"), ("arm", "open")]:
            r = await http.post(f"/api/cmd/{path}", headers=BEARER)
            assert r.status_code == 200, r.text
            assert (await http.get("/api/state")).json()["game"]["phase"] == phase
        await p1.press()
        async with asyncio.timeout(5):
            while svc.engine.view()["phase"] != "answering":
                await asyncio.sleep(0.02)
        assert (await http.post("/api/cmd/judge/right", headers=BEARER)).status_code == 200
        state = (await http.get("/api/state")).json()
        assert state["game"]["phase"] == "judged"
        player = svc.engine.g.podiums["p1"]
        assert state["game"]["scores"][player] == 100
        assert state["timeline"]["decisions"][0]["order"][0]["podium"] == "p1"
        assert state["timeline"]["decisions"][0]["order"][0]["wifi_rank"] == 1

        # arguments from the query string, values read as JSON where they are
        r = await http.post(f"/api/cmd/adjust?player={player}&delta=-30&reason=typo", headers=BEARER)
        assert r.status_code == 200, r.text
        assert (await http.get("/api/state")).json()["score_history"][-1] == {
            **(await http.get("/api/state")).json()["score_history"][-1],
            "player": player,
            "delta": -30,
            "total": 70,
            "reason": "typo",
        }
        r = await http.post("/api/cmd/rename", json={"player": player, "to": "Ada"}, headers=BEARER)
        assert r.status_code == 200, r.text
        assert svc.engine.view()["scores"]["Ada"] == 70
        assert svc.engine.g.podiums["p1"] == "Ada"
        async with asyncio.timeout(5):  # the podium's config names the new player
            while (p1.config or {}).get("name") != "Ada":
                await asyncio.sleep(0.02)

        # identify: a blink on that podium only, no game state touched
        before = svc.engine.state_digest()
        assert (await http.post("/api/cmd/identify?podium=p1", headers=BEARER)).status_code == 200
        await p1.wait_light("identify")
        assert svc.engine.state_digest() == before
        r = await http.post("/api/cmd/identify?podium=p9", headers=BEARER)
        assert r.status_code == 409 and "unknown podium" in r.json()["refused"]
    finally:
        await p1.stop()


async def test_adapters_hot_plug_without_restart(host):
    svc, _, http = host
    listing = (await http.get("/api/adapters")).json()
    assert listing["instances"] == [] and isinstance(listing["kinds"], list)

    new = {"name": "pr", "kind": "probe", "config": {"label": "one"}}
    assert (await http.post("/api/adapters", json=new)).status_code == 401
    r = await http.post("/api/adapters", json=new, headers=BEARER)
    assert r.status_code == 201, r.text
    assert (await http.post("/api/adapters", json=new, headers=BEARER)).status_code == 409
    r = await http.post("/api/adapters", json={**new, "name": "x", "kind": "nope"}, headers=BEARER)
    assert r.status_code == 400 and "unknown adapter kind" in r.json()["error"]
    r = await http.post("/api/adapters", json={**new, "name": "x", "config": {"rate": 99}}, headers=BEARER)
    assert r.status_code == 422 and r.json()["error"].startswith("rate:")
    async with asyncio.timeout(5):
        while (await http.get("/api/adapters")).json()["instances"][0]["status"] != Status.OK:
            await asyncio.sleep(0.02)
    (inst,) = (await http.get("/api/adapters")).json()["instances"]
    assert {k: inst[k] for k in ("name", "kind", "status", "queue", "drops")} == {
        "name": "pr",
        "kind": "probe",
        "status": "ok",
        "queue": 0,
        "drops": 0,
    }

    r = await http.patch("/api/adapters/pr", json={"config": {"label": "two", "rate": 0}}, headers=BEARER)
    assert r.status_code == 422 and "rate" in r.json()["error"]
    r = await http.patch("/api/adapters/pr", json={"config": {"label": "two"}}, headers=BEARER)
    assert r.status_code == 200 and r.json()["adapter"]["config"]["label"] == "two"
    r = await http.patch("/api/adapters/pr", json={"enabled": False}, headers=BEARER)
    assert r.json()["adapter"]["enabled"] is False and r.json()["adapter"]["status"] == "disconnected"
    r = await http.patch("/api/adapters/pr", json={"enabled": True}, headers=BEARER)
    assert r.json()["adapter"]["enabled"] is True
    assert (await http.patch("/api/adapters/zz", json={"enabled": True}, headers=BEARER)).status_code == 404

    Probe.seen.clear()
    await svc.command("end")  # a notice reaches the hot-plugged adapter
    async with asyncio.timeout(5):
        while not Probe.seen:
            await asyncio.sleep(0.02)
    assert (await http.delete("/api/adapters/pr", headers=BEARER)).status_code == 200
    assert (await http.delete("/api/adapters/pr", headers=BEARER)).status_code == 404
    assert (await http.get("/api/adapters")).json()["instances"] == []
    assert svc.connected.is_set() and svc.failed is None


async def test_openapi_lists_every_route_and_command(host):
    _, api, http = host
    doc = (await http.get("/api/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    for route in api.app.routes:
        path = re.sub(r"{([^}:]+)(:[^}]*)?}", r"{\1}", getattr(route, "path", ""))
        if path == "/api/cmd/{name}":  # one entry per command instead
            assert "/api/cmd/read" in doc["paths"]
            continue
        assert path in doc["paths"] or f"{path}/{{path}}" in doc["paths"], path
    for name in ("read", "arm", "judge", "timeout", "next", "adjust", "assign", "rename", "undo", "identify"):
        assert f"/api/cmd/{name}" in doc["paths"], name
    assert "while answering" in doc["paths"]["/api/cmd/judge"]["post"]["description"]
    page = await http.get("/api/docs")
    assert (
        page.status_code == 200 and "/api/cmd/judge/right" in page.text and "nobody is answering" in page.text
    )
    assert (await http.get("/api")).json()["console"] == "/console"


async def test_metrics_parse_and_match_the_show(host, broker):
    svc, _, http = host
    p1 = await _podium(svc, broker, "p1")
    p2 = await _podium(svc, broker, "p2")
    try:
        await svc.command("read")
        await p2.press()  # while reading: a false start
        await asyncio.sleep(0.3)  # past the 250 ms lockout
        await svc.command("arm")
        waiting = asyncio.ensure_future(svc.wait_decision(5))
        await p1.press()
        await waiting
        await svc.command("judge", correct=False)  # p1 wrong; p2 is locked out only for 250 ms
        await svc.command("timeout")
        text = (await http.get("/metrics")).text
    finally:
        await p1.stop()
        await p2.stop()
    fams = {f.name: f for f in text_string_to_metric_families(text)}

    def value(name: str, **labels: str) -> float:
        for s in fams[name.removesuffix("_total")].samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
        raise AssertionError(f"{name} {labels} not in /metrics")

    assert fams["buzzline_decisions"].type == "counter"
    assert value("buzzline_decisions_total") == 1
    assert value("buzzline_false_starts_total") == 1
    assert value("buzzline_judged_total", result="incorrect") == 1
    assert value("buzzline_ties_total") == 0
    assert value("buzzline_timeouts_total") == 1  # the reopened window closed with nobody in it
    assert value("buzzline_podiums_online") == 2
    assert value("buzzline_podium_online", podium="p2") == 1
    assert value("buzzline_broker_connected") == 1
    assert value("buzzline_podium_clock_bound_seconds", podium="p1") > 0
    # neither simulated podium declared a capture bound: both get their board's default
    assert value("buzzline_podiums_capture_default", source="board") == 2
    assert value("buzzline_podiums_capture_default", source="none") == 0
    counts = {s.name: s.value for s in fams["buzzline_decision_latency_seconds"].samples}
    assert counts["buzzline_decision_latency_seconds_count"] == 1
    lock = {s.name: s.value for s in fams["buzzline_lockout_latency_seconds"].samples}
    assert lock["buzzline_lockout_latency_seconds_count"] >= 1


async def test_the_question_card_is_for_the_operator_only(broker, tmp_path):
    from buzzline.showfile import load_show

    show = load_show(Path(__file__).resolve().parent.parent / "docs" / "example-show.toml")
    assert show.question(2) is not None and show.question(2).answer == "Message"
    async with HostService(broker.host, broker.port, "card", show=show) as svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.server.config.port}") as http:
                state = (await http.get("/api/state", headers=BEARER)).json()
                assert state["question"]["text"] == "Which planet has the shortest day?"
                assert "Jupiter" in state["question"]["answer"]
                assert "Jupiter" not in str(state["game"])  # the view viewers get has no answer
                assert "Jupiter" not in str(svc.engine.view())
                assert (
                    "Jupiter" not in (await http.get("/api/state")).text
                )  # nor /api/state without the token
        finally:
            await api.close()


async def test_the_timeline_forgets_an_undone_window(host, broker):
    svc, _, http = host
    p1 = await _podium(svc, broker, "p1")
    try:
        await svc.command("arm")
        waiting = asyncio.ensure_future(svc.wait_decision(5))
        await p1.press()
        await waiting
        assert len((await http.get("/api/state")).json()["timeline"]["decisions"]) == 1
        await svc.command("undo")  # back to before the arm: the same epoch comes again
        assert (await http.get("/api/state")).json()["timeline"]["decisions"] == []
        await svc.command("arm")
        state = (await http.get("/api/state")).json()
        assert state["game"]["phase"] == "open" and state["timeline"]["decisions"] == []
    finally:
        await p1.stop()


async def test_state_without_the_token_hides_the_podium_registry_and_rejects(host, broker):
    svc, _, http = host
    p1 = await _podium(svc, broker, "p1")
    try:
        svc.ingest.rejects["bad_json"] += 1  # as a garbled payload would count it
        full = (await http.get("/api/state", headers=BEARER)).json()
        assert [p["podium"] for p in full["podiums"]] == ["p1"] and full["rejects"]["bad_json"] == 1
        assert full["health"]["broker"]["host"] == f"{broker.host}:{broker.port}"
        anyone = await http.get("/api/state")
        assert anyone.status_code == 200
        public = anyone.json()
        assert public["podiums"] == [] and public["rejects"] == {}
        assert public["health"] == {"broker": {"connected": True}}
        for secret in ('"boot"', '"hw"', '"clock_err_us"', "bad_json", f":{broker.port}"):
            assert secret not in anyone.text, secret
        assert public["game"]["phase"] == full["game"]["phase"]  # the game itself stays public
    finally:
        await p1.stop()


async def test_a_ranked_decision_counts_in_the_decision_latency(broker):
    """Every mode's decision is timed from its first arrival: the Health panel and /metrics."""
    import dataclasses

    from buzzline.core.show import Rules, Show

    show = dataclasses.replace(Show.default(["p1", "p2"]), rules=Rules(mode="ranked"))
    async with HostService(broker.host, broker.port, "web", show=show) as svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        p1, p2 = await _podium(svc, broker, "p1"), await _podium(svc, broker, "p2")
        try:
            await svc.command("arm")
            waiting = asyncio.ensure_future(svc.wait_decision(5))
            await p1.wait_light("armed")
            await p2.wait_light("armed")
            await p1.press()
            await p2.press()  # both pressed: the ranked order is complete
            decision = await waiting
            assert decision is not None and decision.evidence["mode"] == "ranked"
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{api.server.config.port}") as http:
                state = (await http.get("/api/state", headers=BEARER)).json()
                text = (await http.get("/metrics")).text
        finally:
            await p1.stop()
            await p2.stop()
            await api.close()
    assert state["health"]["decision_s"]["count"] == 1
    fams = {f.name: f for f in text_string_to_metric_families(text)}
    counts = {s.name: s.value for s in fams["buzzline_decision_latency_seconds"].samples}
    assert counts["buzzline_decision_latency_seconds_count"] == 1
