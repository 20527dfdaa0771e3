"""Hot plug over HTTP: list, add, reconfigure, enable/disable and remove adapter instances.

``GET /api/adapters`` is readable by anyone who can read ``/api/state``; the rest needs the
operator (see ``buzzline.web.auth``). A request the manager cannot carry out (unknown kind or
name, a name taken, a bad setting) is answered 4xx with the reason, and the host goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buzzline.adapters.api import ConfigError
from buzzline.adapters.runner import AdapterError, kind_infos
from buzzline.core.contract import ApiError
from buzzline.web.api_input import BadInput, decode_json, read_body
from buzzline.web.auth import Auth

if TYPE_CHECKING:
    from buzzline.host_service import HostService


def error(status: int, reason: str) -> JSONResponse:
    body: ApiError = {"ok": False, "error": reason}
    return JSONResponse(body, status_code=status)


async def json_object(request: Request) -> dict[str, Any] | JSONResponse:
    """The body as a JSON object (empty when there is none), or the 4xx response that says why not."""
    try:
        body = await read_body(request)
        data = decode_json(body) if body.strip() else {}
    except BadInput as e:
        return error(e.status, e.reason)
    if not isinstance(data, dict):
        return error(400, "body must be a JSON object")
    return data


def kinds() -> list[dict[str, Any]]:
    return [
        {
            "kind": info.kind,
            "title": info.title,
            "source": info.source,
            "schema": [f.describe() for f in info.schema],
        }
        for info in kind_infos()
    ]


def routes(svc: HostService, auth: Auth) -> list[Route]:
    def denied(request: Request) -> JSONResponse | None:
        why = auth.operator(request)
        return None if why is None else error(*why)

    async def listing(_: Request) -> JSONResponse:
        return JSONResponse({"instances": svc.adapters.snapshot(), "kinds": kinds()})

    async def add(request: Request) -> JSONResponse:
        if (no := denied(request)) is not None:
            return no
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        name, kind, config = body.get("name"), body.get("kind"), body.get("config", {})
        if not isinstance(name, str) or not isinstance(kind, str):
            return error(400, 'expected {"name": ..., "kind": ..., "config": {...}}')
        if not isinstance(config, dict):
            return error(400, "config must be an object")
        try:
            svc.adapters.check(kind, config)
            inst = await svc.adapters.add(name, kind, config)
        except ConfigError as e:
            return error(422, str(e))
        except AdapterError as e:
            return error(409 if "already exists" in str(e) else 400, str(e))
        return JSONResponse({"ok": True, "adapter": inst.snapshot()}, status_code=201)

    async def change(request: Request) -> JSONResponse:
        if (no := denied(request)) is not None:
            return no
        name = request.path_params["name"]
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        if name not in svc.adapters.instances:
            return error(404, f"no adapter named {name!r}")
        config, enabled = body.get("config"), body.get("enabled")
        if config is None and enabled is None:
            return error(400, 'expected {"config": {...}} and/or {"enabled": true|false}')
        if config is not None and not isinstance(config, dict):
            return error(400, "config must be an object")
        if enabled is not None and not isinstance(enabled, bool):
            return error(400, "enabled must be true or false")
        try:
            if config is not None:
                await svc.adapters.reconfigure(name, config)
            if enabled is not None:
                await svc.adapters.set_enabled(name, enabled)
        except AdapterError as e:
            return error(422, str(e))
        return JSONResponse({"ok": True, "adapter": svc.adapters.instances[name].snapshot()})

    async def remove(request: Request) -> JSONResponse:
        if (no := denied(request)) is not None:
            return no
        name = request.path_params["name"]
        try:
            await svc.adapters.remove(name)
        except AdapterError as e:
            return error(404, str(e))
        return JSONResponse({"ok": True})

    return [
        Route("/api/adapters", listing, methods=["GET"]),
        Route("/api/adapters", add, methods=["POST"]),
        Route("/api/adapters/{name}", change, methods=["PATCH"]),
        Route("/api/adapters/{name}", remove, methods=["DELETE"]),
    ]
