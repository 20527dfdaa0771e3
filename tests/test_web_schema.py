"""A schema test: hypothesis builds requests for every operation in /api/openapi.json (bodies
shaped by the schema or plain random JSON, random query strings and path parameters, with and
without the token) against a real host; none may answer 5xx."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any
from urllib.parse import quote

import httpx
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.web.app import serve_operator_api
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TOKEN = "fuzz-token"

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False)
    | st.text(max_size=40)
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
names = st.sampled_from(["p1", "Player 1", "x", "", "../etc", "a" * 70, "read", "judge/right"]) | st.text(
    max_size=20
)


def _from_schema(schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    props = schema.get("properties") or {}
    if schema.get("type") != "object" or not props:
        return json_values

    def value(p: dict[str, Any]) -> st.SearchStrategy[Any]:
        if "enum" in p:
            return st.sampled_from(p["enum"]) | scalars
        return {"boolean": st.booleans(), "integer": st.integers(-(10**7), 10**7), "string": names}.get(
            p.get("type", ""), json_values
        ) | scalars

    return st.fixed_dictionaries({}, optional={k: value(v) for k, v in props.items()}) | json_values


def _requests(doc: dict[str, Any]) -> st.SearchStrategy[tuple[str, str, Any, dict[str, Any], bool]]:
    ops = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            schema = (
                op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
            )
            body = st.none() | _from_schema(schema)
            filled = st.builds(
                lambda p, n: re.sub(
                    r"{path}", quote(n, safe="/"), re.sub(r"{(?!path})[^}]+}", quote(n, safe=""), p)
                ),
                st.just(path),
                names,
            )
            query = st.dictionaries(
                st.sampled_from(["podium", "player", "delta", "correct", "ms", "to"]),
                st.text(max_size=12),
                max_size=3,
            )
            ops.append(st.tuples(st.just(method.upper() + " " + path), filled, body, query, st.booleans()))
    return st.one_of(ops)


async def test_no_request_in_the_schema_gets_a_5xx(broker):
    async with HostService(broker.host, broker.port, "fuzz") as svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        base = f"http://127.0.0.1:{api.server.config.port}"
        try:
            async with httpx.AsyncClient(base_url=base) as http:
                doc = (await http.get("/api/openapi.json")).json()
            seen: list[tuple[str, int]] = []

            @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            @given(_requests(doc))
            def one(req: tuple[str, str, Any, dict[str, Any], bool]) -> None:
                operation, path, body, query, auth = req
                method = operation.split()[0]
                headers = {"authorization": f"Bearer {TOKEN}"} if auth else {}
                content = None if body is None else json.dumps(body).encode()
                if content is not None:
                    headers["content-type"] = "application/json"
                # the status and headers only: a live stream (/api/live, /overlay/stream) never ends
                with (
                    httpx.Client(base_url=base, timeout=10) as http,
                    http.stream(method, path, content=content, params=query, headers=headers) as r,
                ):
                    status = r.status_code
                    text = r.read().decode(errors="replace")[:300] if status >= 500 else ""
                seen.append((operation, status))
                assert status < 500, (method, path, body, query, status, text)

            await asyncio.to_thread(one)

            def sweep() -> None:  # and every operation at least once, plain, with and without the token
                for path, item in doc["paths"].items():
                    for method in item:
                        for auth in (False, True):
                            plain = re.sub(r"{[^}]+}", "p1", path)
                            one.hypothesis.inner_test((f"{method.upper()} {path}", plain, {}, {}, auth))

            await asyncio.to_thread(sweep)
            operations = {f"{m.upper()} {p}" for p, item in doc["paths"].items() for m in item}
            assert {op for op, _ in seen} == operations
            assert any(code == 200 for _, code in seen) and any(400 <= code < 500 for _, code in seen)
            assert svc.failed is None and svc.connected.is_set()
        finally:
            await api.close()
