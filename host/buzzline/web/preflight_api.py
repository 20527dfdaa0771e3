"""The pre-show check in the console: ``full_state``'s ``preflight`` list (the host's start-up
findings and live podium ones) and ``POST /api/preflight/ack``, the operator's acknowledgement
that takes what is listed off the console until something new turns up."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from buzzline.preflight import Finding, podium_findings
from buzzline.web.adapters_api import error
from buzzline.web.auth import Auth

if TYPE_CHECKING:
    from buzzline.host_service import HostService


def live_findings(svc: HostService) -> list[Finding]:
    return podium_findings(svc.registry.snapshot(), svc.engine.show)


def listed(svc: HostService) -> list[dict[str, str]]:
    """What the console lists now: every finding the operator has not acknowledged."""
    return svc.preflight.listed(live_findings(svc))


def routes(svc: HostService, auth: Auth) -> list[Route]:
    async def ack(request: Request) -> JSONResponse:
        why = auth.operator(request)
        if why is not None:
            return error(*why)
        n = svc.preflight.acknowledge(live_findings(svc))
        return JSONResponse({"ok": True, "acknowledged": n, "preflight": listed(svc)})

    return [Route("/api/preflight/ack", ack, methods=["POST"])]
