"""The operator API over HTTP: the token guards commands, refusals carry their reason."""

from __future__ import annotations

import asyncio

import httpx
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.sim.podium import VirtualPodium
from buzzline.web.app import serve_operator_api


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


BIG = "x" * (1 << 20)
BAD_BODIES: list[tuple[str, bytes, int, str]] = [
    ("clashing name", b'{"name":"arm","args":{"name":"x"}}', 400, "arm takes no arguments, not 'name'"),
    ("unknown argument", b'{"name":"judge","args":{"correct":true,"why":1}}', 400, "judge takes correct"),
    ("unknown command", b'{"name":"fly"}', 400, "unknown command 'fly'"),
    ("unknown field", b'{"name":"read","argz":{}}', 400, "unknown field 'argz'"),
    ("NaN", b'{"name":"adjust","args":{"player":"a","delta":NaN}}', 400, "NaN"),
    ("Infinity", b'{"name":"adjust","args":{"player":"a","delta":-Infinity}}', 400, "Infinity"),
    ("overflow", b'{"name":"adjust","args":{"player":"a","delta":1e999}}', 400, "out of range"),
    ("huge int", b'{"name":"adjust","args":{"delta":' + b"9" * 5000 + b"}}", 400, "not JSON"),
    ("deep and oversized", b"[" * 60000 + b"]" * 60000, 413, "over 65536 bytes"),
    ("deep within the cap", b"[" * 30000 + b"]" * 30000, 400, "nested deeper"),
    ("deep args", b'{"name":"read","args":{"a":' + b"[" * 20 + b"]" * 20 + b"}}", 400, "nested deeper"),
    ("nested args", b'{"name":"adjust","args":{"player":[[["a"]]]}}', 400, "must be text"),
    (
        "long string",
        b'{"name":"adjust","args":{"player":"a","reason":"' + b"r" * 5000 + b'"}}',
        400,
        "over 256",
    ),
    ("1 MB string", b'{"name":"adjust","args":{"reason":"' + BIG.encode() + b'"}}', 413, "over 65536 bytes"),
    ("not UTF-8", b'{"name":"re\xffad"}', 400, "not UTF-8"),
    ("not JSON", b"{not json", 400, "not JSON"),
    ("empty", b"", 400, "not JSON"),
    ("array", b'["read"]', 400, "expected"),
    ("name not text", b'{"name":5}', 400, "expected"),
    ("args a list", b'{"name":"read","args":[1]}', 400, "args must be an object"),
]


async def test_every_bad_body_is_a_4xx_with_its_reason_and_changes_nothing(broker, tmp_path):
    async with HostService(broker.host, broker.port, "api", log_path=tmp_path / "show.db") as svc:
        port = free_port()
        api = await serve_operator_api(svc, "127.0.0.1", port, token="sesame")
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
                auth = {"authorization": "Bearer sesame", "content-type": "application/json"}
                logged = len(list(svc._eventlog.records()))  # type: ignore[union-attr]
                for what, body, status, reason in BAD_BODIES:
                    r = await http.post("/api/command", content=body, headers=auth)
                    assert r.status_code == status, (what, r.text[:200])
                    assert reason in r.json()["error"], (what, r.json())
                # a wrong token, a non-ASCII one, or none: 401, whatever the body
                for header in (b"Bearer sesamE", "Bearer sésame".encode(), b"sesame", b""):
                    r = await http.post(
                        "/api/command", content=b'{"name":"read"}', headers={"authorization": header}
                    )
                    assert r.status_code == 401
                # the host is fine and nothing reached the engine or the log
                assert svc.engine.view()["phase"] == "idle"
                assert len(list(svc._eventlog.records())) == logged  # type: ignore[union-attr]
                adjust = {"name": "adjust", "args": {"player": "nobody", "delta": 5}}
                r = await http.post("/api/command", json=adjust, headers=auth)
                assert r.status_code == 409 and "unknown player" in r.json()["refused"]
                assert (await http.get("/api/state")).json()["connected"] is True
        finally:
            await api.close()
