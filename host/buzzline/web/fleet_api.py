"""The fleet's firmware over HTTP: ``GET /api/fleet`` (each podium's release, update available,
progress, outcome), ``POST /api/fleet/push`` and ``POST /api/fleet/rollback`` (operator only).

Bodies: ``{"podiums": ["p1", ...], "release": "0.2.0"}`` (no podiums: every podium that said
hello; no release: the newest for each podium's board). A refused push is a 409 with the reason.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buzzline.ota.fleet import FleetError
from buzzline.web.adapters_api import error, json_object
from buzzline.web.auth import Auth

if TYPE_CHECKING:
    from buzzline.host_service import HostService


def routes(svc: HostService, auth: Auth) -> list[Route]:
    async def status(request: Request) -> JSONResponse:
        if (why := auth.operator(request, write=False)) is not None:
            return error(*why)
        return JSONResponse({"podiums": svc.fleet.status(), "server": svc.fleet.url})

    async def act(request: Request) -> JSONResponse:
        if (why := auth.operator(request)) is not None:
            return error(*why)
        body = await json_object(request)
        if isinstance(body, JSONResponse):
            return body
        podiums = body.get("podiums", [])
        release = body.get("release")
        if not isinstance(podiums, list) or not all(isinstance(p, str) for p in podiums):
            return error(400, "podiums must be a list of podium ids")
        if release is not None and not isinstance(release, str):
            return error(400, "release must be a version or a manifest digest")
        action = request.path_params["action"]
        if action not in ("push", "rollback"):
            return error(404, f"no fleet action {action!r} (push or rollback)")
        try:
            rows = svc.firmware(action, podiums, release)
        except FleetError as e:
            return error(409, str(e))
        return JSONResponse({"ok": True, "podiums": rows})

    return [
        Route("/api/fleet", status, methods=["GET"]),
        Route("/api/fleet/{action:str}", act, methods=["POST"]),
    ]
