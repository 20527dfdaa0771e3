"""The operator console: its pages, the session login and logout, and the live stream.

``GET /console`` is the app for a logged-in operator and the login form (401) for anyone else.
``GET /api/live`` is a server-sent event stream: the whole console state (``full_state``) at once,
again right after every notice from the host's bus (with that notice's events), and every second
in between (podium health and timers move without notices). The page resyncs from
``/api/state`` whenever the stream reconnects. Pages carry a Content-Security-Policy that allows
their own origin only: the console makes no external request.
"""

from __future__ import annotations

import asyncio
import html
import itertools
import json
import urllib.parse
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from buzzline.web.auth import COOKIE, SESSION_S, Auth
from buzzline.web.livestate import Collector, full_state

if TYPE_CHECKING:
    from buzzline.host_service import HostService

STATIC = Path(__file__).parent / "static"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
HEADERS = {"content-security-policy": CSP, "cache-control": "no-store", "x-content-type-options": "nosniff"}
TICK_S = 1.0
FAILED_LOGIN_S = 0.3
_ids = itertools.count(1)


def page(name: str, status: int = 200, **fields: str) -> HTMLResponse:
    text = (STATIC / name).read_text(encoding="utf-8")
    for key, value in fields.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return HTMLResponse(text, status_code=status, headers=HEADERS)


def sse(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def routes(svc: HostService, auth: Auth, collector: Collector) -> list[BaseRoute]:
    async def console(request: Request) -> Response:
        s = auth.session(request)
        if s is None:
            return page("login.html", 401, error="")
        return page("console.html", csrf=s.csrf)

    async def login(request: Request) -> Response:
        body = await request.body()
        is_json = request.headers.get("content-type", "").startswith("application/json")
        token: Any = None
        if len(body) <= 4096:
            if is_json:
                try:
                    data = json.loads(body)
                    token = data.get("token") if isinstance(data, dict) else None
                except ValueError:
                    token = None
            else:
                token = urllib.parse.parse_qs(body.decode("utf-8", "replace")).get("token", [None])[0]
        if not auth.token_ok(token):
            await asyncio.sleep(FAILED_LOGIN_S)  # guessing costs time
            if is_json:
                return JSONResponse({"ok": False, "error": "wrong operator token"}, status_code=401)
            return page("login.html", 401, error="That is not the operator token.")
        s = auth.login()
        resp: Response
        if is_json:
            resp = JSONResponse({"ok": True, "csrf": s.csrf})
        else:
            resp = RedirectResponse("/console", status_code=303)
        resp.set_cookie(COOKIE, s.sid, max_age=SESSION_S, path="/", httponly=True, samesite="strict")
        return resp

    async def logout(request: Request) -> Response:
        why = auth.operator(request)
        if why is not None and auth.session(request) is not None:
            return JSONResponse({"ok": False, "error": why[1]}, status_code=why[0])
        auth.logout(request)
        resp = JSONResponse({"ok": True})
        resp.delete_cookie(COOKIE, path="/", httponly=True, samesite="strict")
        return resp

    async def session(request: Request) -> JSONResponse:
        s = auth.session(request)
        if s is None:
            return JSONResponse({"ok": False, "error": "not logged in"}, status_code=401)
        return JSONResponse({"ok": True, "csrf": s.csrf})

    async def live(request: Request) -> Response:
        why = auth.operator(request, write=False)
        if why is not None:
            return JSONResponse({"ok": False, "error": why[1]}, status_code=why[0])
        return StreamingResponse(
            _stream(svc, auth, collector, request),
            media_type="text/event-stream",
            headers={"cache-control": "no-store", "x-accel-buffering": "no"},
        )

    async def to_console(_: Request) -> Response:
        return RedirectResponse("/console", status_code=307)

    return [
        Route("/", to_console, methods=["GET"]),
        Route("/console", console, methods=["GET"]),
        Route("/console/", to_console, methods=["GET"]),
        Route("/console/login", login, methods=["POST"]),
        Route("/console/logout", logout, methods=["POST"]),
        Route("/console/session", session, methods=["GET"]),
        Route("/api/live", live, methods=["GET"]),
        Mount("/console/static", StaticFiles(directory=STATIC / "console"), name="console-static"),
    ]


async def _stream(
    svc: HostService, auth: Auth, collector: Collector, request: Request
) -> AsyncIterator[bytes]:
    sub = svc.notices.subscribe(f"web:live:{next(_ids)}", 64, replay_latest=False)
    stopping = asyncio.ensure_future(collector.stopping.wait())
    getter: asyncio.Future[Any] | None = None
    try:
        yield sse("state", {"seq": svc.notices.seq, "events": [], "state": full_state(svc, collector)})
        while not collector.stopping.is_set():
            getter = asyncio.ensure_future(sub.get())
            done, _ = await asyncio.wait(
                {getter, stopping}, timeout=TICK_S, return_when=asyncio.FIRST_COMPLETED
            )
            events: list[Mapping[str, Any]] = []
            if getter in done:
                try:
                    events += getter.result().events
                except StopAsyncIteration:
                    return
                while (more := sub.get_nowait()) is not None:
                    events += more.events
            else:
                getter.cancel()
            if collector.stopping.is_set():
                return
            if auth.operator(request, write=False) is not None:
                yield sse("logout", {})
                return
            yield sse(
                "state", {"seq": svc.notices.seq, "events": events, "state": full_state(svc, collector)}
            )
    finally:
        stopping.cancel()
        if getter is not None:
            if getter.done() and not getter.cancelled():
                getter.exception()  # retrieved: a closed subscription ends the stream, quietly
            getter.cancel()
        svc.notices.unsubscribe(sub)
