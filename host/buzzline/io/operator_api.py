"""The operator API over HTTP JSON: one door for every control surface.

The console, OSC and Companion all end up calling ``HostService.command``; this module
exposes it (plus read-only state) over HTTP. Commands need the operator token; state is
readable without it. A body that is not a well-formed command (``io.api_input``) is a 400 (413
when oversized) with the reason; a command the game cannot take now is refused with its reason
(409).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import secrets
import socket
from typing import TYPE_CHECKING, Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buzzline.core import events as ev
from buzzline.io.api_input import BadInput, check_command, read_json
from buzzline.io.security import new_password

if TYPE_CHECKING:
    from buzzline.host_service import HostService

log = logging.getLogger(__name__)


def _jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        d = {f.name: _jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
        d["type"] = type(x).__name__
        return d
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [_jsonable(v) for v in (sorted(x) if isinstance(x, set | frozenset) else x)]
    return x


def build_app(svc: HostService, token: str) -> Starlette:
    async def state(_: Request) -> JSONResponse:
        return JSONResponse(
            {
                "game": _jsonable(svc.engine.view()),
                "podiums": svc.registry.snapshot(),
                "rejects": dict(svc.ingest.rejects),
                "connected": svc.connected.is_set(),
            }
        )

    want = f"Bearer {token}".encode()

    async def command(request: Request) -> JSONResponse:
        # the header as its raw bytes (Starlette decodes latin-1), compared in constant time
        got = request.headers.get("authorization", "").encode("latin-1")
        if not secrets.compare_digest(got, want):
            return JSONResponse({"ok": False, "error": "operator token required"}, status_code=401)
        try:
            name, args = check_command(await read_json(request))
        except BadInput as e:
            return JSONResponse({"ok": False, "error": e.reason}, status_code=e.status)
        effects = await svc.command(name, **args)
        refused = [e for e in effects if isinstance(e, ev.CommandRefused)]
        if refused:
            return JSONResponse({"ok": False, "refused": refused[0].reason}, status_code=409)
        return JSONResponse({"ok": True, "effects": _jsonable(effects)})

    return Starlette(
        routes=[
            Route("/api/state", state, methods=["GET"]),
            Route("/api/command", command, methods=["POST"]),
        ]
    )


class OperatorServer:
    def __init__(self, server: uvicorn.Server, task: asyncio.Task[None], token: str) -> None:
        self.server = server
        self.task = task
        self.token = token

    async def close(self) -> None:
        self.server.should_exit = True
        await self.task


async def serve_operator_api(
    svc: HostService, host: str, port: int, token: str | None = None, sock: socket.socket | None = None
) -> OperatorServer:
    """Serve on ``host:port``, or on ``sock`` when the caller bound it (to report a busy port itself)."""
    token = token or new_password()
    config = uvicorn.Config(build_app(svc, token), host=host, port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    serving = server.serve(sockets=[sock]) if sock is not None else server.serve()
    task = asyncio.create_task(serving, name="operator-api")
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    log.debug("operator API on %s:%d", host, port)  # the caller shows the token, once
    return OperatorServer(server, task, token)
