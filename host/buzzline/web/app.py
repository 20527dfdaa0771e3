"""The web app's root: the operator API over HTTP JSON, one door for every control surface.

The console, OSC and Companion all end up calling ``HostService.command``; this module exposes
it (plus read-only state) over HTTP and mounts the rest of the host's web face
(``buzzline.web``: console, adapters, OpenAPI and docs, metrics). Commands need the operator:
the token as ``Authorization: Bearer TOKEN``, or a console session with its CSRF token
(``buzzline.web.auth``). State is readable without it. A body that is not a well-formed command
(``web.api_input``) is a 400 (413 when oversized) with the reason; a command the game cannot
take now is refused with its reason (409).

- ``POST /api/command`` ``{"name": ..., "args": {...}}``: any command;
- ``POST /api/cmd/NAME`` (and the buttons ``/api/cmd/judge/right``, ``/api/cmd/judge/wrong``):
  one command per URL, no body needed (Companion's generic HTTP module); arguments, when the
  command takes some, from a JSON body or the query string (``?podium=p2``; a value that reads
  as JSON, such as ``true`` or ``-100``, is taken as that).
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from buzzline.core import events as ev
from buzzline.io.security import new_password
from buzzline.web import adapters_api, console, openapi
from buzzline.web.adapters_api import error, json_object
from buzzline.web.api_input import BadInput, check_args, check_command, read_json
from buzzline.web.auth import Auth
from buzzline.web.livestate import Collector, full_state, jsonable, metric_families
from buzzline.web.metrics import render
from buzzline.web.overlay import Overlay

if TYPE_CHECKING:
    from buzzline.host_service import HostService

log = logging.getLogger(__name__)


async def run_command(svc: HostService, name: str, args: dict[str, Any]) -> JSONResponse:
    """A checked command (``web.api_input``) to the host: 200 with its effects, or 409 with the reason."""
    effects = await svc.command(name, **args)
    refused = [e for e in effects if isinstance(e, ev.CommandRefused)]
    if refused:
        return JSONResponse({"ok": False, "refused": refused[0].reason}, status_code=409)
    return JSONResponse({"ok": True, "effects": jsonable(effects)})


def _query_value(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=lambda c: text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float) else text


def build_app(svc: HostService, token: str) -> Starlette:
    auth = Auth(token)
    collector = Collector(svc)
    overlay = Overlay(svc.notices)

    def denied(request: Request) -> JSONResponse | None:
        why = auth.operator(request)
        return None if why is None else error(*why)

    async def state(request: Request) -> JSONResponse:
        """Readable by anyone; the question's text and answer only by the operator."""
        collector.start()
        return JSONResponse(full_state(svc, collector, auth.operator(request, write=False) is None))

    async def command(request: Request) -> JSONResponse:
        if (no := denied(request)) is not None:
            return no
        try:
            name, args = check_command(await read_json(request))
        except BadInput as e:
            return error(e.status, e.reason)
        return await run_command(svc, name, args)

    async def cmd(request: Request) -> JSONResponse:
        if (no := denied(request)) is not None:
            return no
        path = request.path_params["name"]
        name, args = openapi.BUTTONS.get(path, (path, {}))
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        given = {k: _query_value(v) for k, v in request.query_params.items()} | body
        try:
            checked = check_args(name, {**given, **args})
        except BadInput as e:
            return error(404 if e.reason.startswith("unknown command") else e.status, e.reason)
        return await run_command(svc, name, checked)

    async def index(_: Request) -> JSONResponse:
        """Where everything is."""
        return JSONResponse(
            {
                "buzzline": "host",
                "console": "/console",
                "docs": "/api/docs",
                "openapi": "/api/openapi.json",
                "state": "/api/state",
                "commands": "/api/command",
                "metrics": "/metrics",
            }
        )

    async def spec(_: Request) -> JSONResponse:
        return JSONResponse(openapi.spec(app.routes))

    async def docs(_: Request) -> HTMLResponse:
        return HTMLResponse(openapi.docs_page(openapi.spec(app.routes)), headers=console.HEADERS)

    async def metrics(_: Request) -> Response:
        collector.start()
        text = render(metric_families(svc, collector))
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4; charset=utf-8")

    routes: list[BaseRoute] = [
        Route("/api", index, methods=["GET"]),
        Route("/api/state", state, methods=["GET"]),
        Route("/api/command", command, methods=["POST"]),
        Route("/api/cmd/{name:path}", cmd, methods=["POST"]),
        Route("/api/openapi.json", spec, methods=["GET"]),
        Route("/api/docs", docs, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
        *adapters_api.routes(svc, auth),
        *console.routes(svc, auth, collector),
        *overlay.routes,
    ]
    app = Starlette(routes=routes)
    app.state.collector = collector
    app.state.overlay = overlay
    app.state.auth = auth
    return app


class OperatorServer:
    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], token: str, app: Starlette) -> None:
        self.server = server
        self.task = task
        self.token = token
        self.app = app

    async def close(self) -> None:
        await self.app.state.collector.close()  # live streams end, so the server can
        self.app.state.overlay.close()
        self.server.should_exit = True
        await self.task


async def serve_operator_api(
    svc: HostService, host: str, port: int, token: str | None = None, sock: socket.socket | None = None
) -> OperatorServer:
    """Serve on ``host:port``, or on ``sock`` when the caller bound it (to report a busy port itself)."""
    token = token or new_password()
    app = build_app(svc, token)
    app.state.collector.start()
    config = uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(config)
    serving = server.serve(sockets=[sock]) if sock is not None else server.serve()
    task = asyncio.create_task(serving, name="operator-api")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    log.debug("operator API on %s:%d", host, port)  # the caller shows the token, once
    return OperatorServer(server, task, token, app)
