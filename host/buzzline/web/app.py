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
import contextlib
import json
import logging
import socket
from types import FrameType
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from buzzline.adapters import audience_screens
from buzzline.core import events as ev
from buzzline.core.contract import CommandDone, CommandRefusal
from buzzline.io.security import new_password
from buzzline.web import adapters_api, console, fleet_api, openapi, preflight_api
from buzzline.web import audience as audience_page
from buzzline.web.adapters_api import error, json_object
from buzzline.web.api_input import BadInput, check_args, check_command, read_json
from buzzline.web.auth import Auth
from buzzline.web.livestate import Collector, full_state, jsonable, metric_families
from buzzline.web.metrics import render
from buzzline.web.overlay import Overlay

if TYPE_CHECKING:
    from buzzline.host_service import HostService
    from buzzline.lifecycle import Part

log = logging.getLogger(__name__)


async def run_command(svc: HostService, name: str, args: dict[str, Any]) -> JSONResponse:
    """A checked command (``web.api_input``) to the host: 200 with its effects, or 409 with the reason."""
    effects = await svc.command(name, **args)
    refused = [e for e in effects if isinstance(e, ev.CommandRefused)]
    if refused:
        no: CommandRefusal = {"ok": False, "refused": refused[0].reason}
        return JSONResponse(no, status_code=409)
    done: CommandDone = {"ok": True, "effects": jsonable(effects)}
    return JSONResponse(done)


def _query_value(text: str) -> Any:
    try:
        value = json.loads(text, parse_constant=lambda c: text)
    except ValueError:
        return text
    return value if isinstance(value, bool | int | float) else text


def build_app(svc: HostService, token: str) -> Starlette:
    auth = Auth(token)
    collector = Collector(svc)
    overlay = Overlay(svc.notices, supervise=svc.supervise)

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
        text = render([*metric_families(svc, collector), *audience_page.metric_families()])
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
        *fleet_api.routes(svc, auth),
        *preflight_api.routes(svc, auth),
        *console.routes(svc, auth, collector),
        *overlay.routes,
        *audience_page.routes(),
        *audience_page.console_routes(auth),
    ]
    app = Starlette(routes=routes)
    app.state.collector = collector
    app.state.overlay = overlay
    app.state.auth = auth
    return app


class _Server(uvicorn.Server):
    """uvicorn's server, noting whether a signal (Ctrl-C, SIGTERM) ended it: that is the process
    stopping, not the server dying."""

    signalled = False

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.signalled = True
        super().handle_exit(sig, frame)


def listen_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (IPv6 when the address has a colon), not yet listening."""
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class OperatorServer:
    """The web app served by uvicorn, as a part the host supervises (``web-server``): a server
    that dies is replaced by a new one on the same listening socket; one that keeps dying stops
    the host with the reason. ``server`` is the one serving now."""

    def __init__(self, svc: HostService, app: Starlette, token: str, sock: socket.socket, port: int) -> None:
        self.svc = svc
        self.app = app
        self.token = token
        self.port = port
        self._sock = sock
        self.server = self._new_server()
        self._fresh: uvicorn.Server | None = self.server  # made, not yet serving
        self.part: Part | None = None
        self.page_base = ""

    def _new_server(self) -> uvicorn.Server:
        host, port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            self.app, host=host, port=port, log_level="warning", lifespan="off", timeout_graceful_shutdown=2
        )
        return _Server(config)

    async def _life(self) -> None:
        """One server's life, on its own copy of the listening socket (uvicorn closes the one it
        was given when it ends; the original stays open for the next server)."""
        server, self._fresh = self._fresh or self._new_server(), None
        self.server = server
        await server.serve(sockets=[self._sock.dup()])
        if isinstance(server, _Server) and server.signalled and self.part is not None:
            self.part.closing = True  # uvicorn passes the signal on: the host stops next

    async def start(self) -> None:
        self.part = self.svc.supervise("web-server", self._life)
        while not self.server.started:
            task = self.part.task
            if task is not None and task.done():
                task.result()
                raise RuntimeError(f"the web server did not start: {self.part.last_error}")
            await asyncio.sleep(0.01)
        self.page_base = audience_page.page_base(*self._sock.getsockname()[:2])
        audience_screens.PAGE_BASE["url"] = self.page_base  # the screens' QR codes point here

    async def close(self) -> None:
        await self.app.state.collector.close()  # live streams end, so the server can
        overlay = self.app.state.overlay
        overlay.close()
        if overlay.hub.part is not None:
            await self.svc.end(overlay.hub.part)
        part = self.part
        if part is not None:
            part.closing = True
            self.server.should_exit = True
            if part.task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await asyncio.wait_for(asyncio.shield(part.task), 5)
            await self.svc.end(part)
        self._sock.close()
        if audience_screens.PAGE_BASE["url"] == self.page_base:
            audience_screens.PAGE_BASE["url"] = ""


async def serve_operator_api(
    svc: HostService, host: str, port: int, token: str | None = None, sock: socket.socket | None = None
) -> OperatorServer:
    """Serve on ``host:port``, or on ``sock`` when the caller bound it (to report a busy port
    itself). The server runs as a part of the (running) host service: it comes back if it dies."""
    token = token or new_password()
    app = build_app(svc, token)
    app.state.collector.start()
    api = OperatorServer(svc, app, token, sock if sock is not None else listen_socket(host, port), port)
    await api.start()
    log.debug("operator API on %s:%d", host, port)  # the caller shows the token, once
    return api
