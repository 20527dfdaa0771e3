"""The phone page and the audience's public figures, served by the host under ``/audience/``,
and the console's view of it (``GET /api/audience``, operator only).

``/audience/`` is the page (the same files ``buzzline audience page`` writes for a static
server); ``config.json`` tells it which cluster nodes to reach, from the audience adapter running
in this host; ``info.json`` is what screens show (join code and link, the question, results,
the leaderboard); ``qr.svg`` is the join link as a QR code. The page's policy allows its own
origin and WebSocket connections (the cluster's nodes are other origins), nothing else.
"""

from __future__ import annotations

import socket
from importlib import resources
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from buzzline.adapters.audience import LIVE, AudienceAdapter
from buzzline.adapters.audience_cluster import AUDIENCE_PASSWORD, AUDIENCE_USER
from buzzline.web.adapters_api import error
from buzzline.web.auth import Auth
from buzzline.web.metrics import Family
from buzzline.web.overlay import qr_svg

CSP = (
    "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
    "style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
HEADERS = {
    "content-security-policy": CSP,
    "cache-control": "no-store",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
}
TYPES = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".md": "text/plain"}


def static_dir() -> Path:
    return Path(str(resources.files("buzzline.web").joinpath("static", "audience")))


def _adapter(code: str | None) -> AudienceAdapter | None:
    if code:
        return LIVE.get(code.upper())
    return next(iter(LIVE.values()), None)


def join_link(adapter: AudienceAdapter, request: Request) -> str:
    """The address phones open: the adapter's (its ``join_url``, or this host's page as its
    server listens), else this page as the request reached it."""
    link = adapter.join_link()
    if "://" in link:
        return link
    return f"{str(request.base_url).rstrip('/')}/audience/?code={adapter.code}"


def page_base(host: str, port: int) -> str:
    """``http://HOST:PORT`` for a server listening on ``host``: a wildcard address becomes this
    machine's address on its default route (a phone cannot open 0.0.0.0)."""
    if host in ("0.0.0.0", "::", ""):
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect(("192.0.2.1", 9))  # a route look-up only: a datagram socket sends nothing here
            host = probe.getsockname()[0]
        except OSError:
            host = "127.0.0.1"
        finally:
            probe.close()
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def public_info(adapter: AudienceAdapter, request: Request) -> dict[str, Any]:
    snap = adapter.snapshot()
    return {
        "code": adapter.code,
        "title": snap["title"],
        "join_url": join_link(adapter, request),
        "players": snap["players"],
        "joined": snap["joined"],
        "question": snap["question"],
        "results": snap["results"],
        "board": snap["board"],
    }


def routes() -> list[BaseRoute]:
    async def page(_: Request) -> Response:
        return FileResponse(static_dir() / "index.html", media_type="text/html", headers=HEADERS)

    async def bare(_: Request) -> Response:
        return RedirectResponse("/audience/", status_code=308)

    async def config(request: Request) -> Response:
        adapter = _adapter(request.query_params.get("code"))
        if adapter is None or not adapter.config.get("ws_urls"):
            return JSONResponse(
                {"error": "no audience adapter with ws_urls is running"}, 404, headers=HEADERS
            )
        body = {"servers": adapter.config["ws_urls"], "user": AUDIENCE_USER, "password": AUDIENCE_PASSWORD}
        return JSONResponse(body, headers=HEADERS)

    async def info(request: Request) -> Response:
        adapter = _adapter(request.query_params.get("code"))
        if adapter is None:
            return JSONResponse({"audience": False}, headers=HEADERS)
        return JSONResponse({"audience": True} | public_info(adapter, request), headers=HEADERS)

    async def qr(request: Request) -> Response:
        adapter = _adapter(request.query_params.get("code"))
        if adapter is None:
            return JSONResponse({"error": "no audience adapter is running"}, 404, headers=HEADERS)
        return Response(qr_svg(join_link(adapter, request)), media_type="image/svg+xml", headers=HEADERS)

    async def asset(request: Request) -> Response:
        root = static_dir().resolve()
        path = (root / request.path_params["path"]).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            return JSONResponse({"error": "not found"}, 404)
        return FileResponse(
            path, media_type=TYPES.get(path.suffix, "application/octet-stream"), headers=HEADERS
        )

    return [
        Route("/audience", bare, methods=["GET"]),
        Route("/audience/", page, methods=["GET"]),
        Route("/audience/config.json", config, methods=["GET"]),
        Route("/audience/info.json", info, methods=["GET"]),
        Route("/audience/qr.svg", qr, methods=["GET"]),
        Route("/audience/{path:path}", asset, methods=["GET"]),
    ]


def console_routes(auth: Auth) -> list[BaseRoute]:
    async def panel(request: Request) -> Response:
        """Each audience adapter of this host: join code and link, phones joined and connected,
        answers by outcome and per second, each cluster node's health, the current question's
        answers by choice (live, for the operator)."""
        if (why := auth.operator(request, write=False)) is not None:
            return error(*why)
        rows = [
            adapter.snapshot() | {"join_url": join_link(adapter, request)}
            for _, adapter in sorted(LIVE.items())
        ]
        return JSONResponse({"audience": rows}, headers={"cache-control": "no-store"})

    return [Route("/api/audience", panel, methods=["GET"])]


def metric_families() -> list[Family]:
    """The audience adapters of this host, for ``/metrics``: joins, answers by outcome, rate,
    close-to-results time, and per cluster node its health and connections."""
    joined = Family("buzzline_audience_joined", "counter", "Phones that joined, by show code.")
    players = Family("buzzline_audience_players", "gauge", "Sessions with at least one answer.")
    answers = Family(
        "buzzline_audience_answers", "counter", "Answers judged, by outcome (accepted or why not)."
    )
    rate = Family("buzzline_audience_answer_rate", "gauge", "Accepted answers per second, last 10 s.")
    results = Family(
        "buzzline_audience_close_to_results_seconds", "gauge", "Last question's close to results."
    )
    refused = Family("buzzline_audience_requests_refused", "counter", "Join/clock/sync requests over a rate.")
    node_up = Family("buzzline_audience_node_up", "gauge", "1 if the cluster node answers its monitor.")
    node_conns = Family("buzzline_audience_node_connections", "gauge", "Client connections on the node.")
    node_phones = Family("buzzline_audience_node_phones", "gauge", "Audience-account clients on the node.")
    for code, adapter in sorted(LIVE.items()):
        snap = adapter.snapshot()
        joined.add(snap["joined"], code=code)
        players.add(snap["players"], code=code)
        for outcome, n in sorted(snap["answers"].items()):
            answers.add(n, code=code, outcome=outcome)
        rate.add(snap["answer_rate"], code=code)
        if snap["close_to_results_ms"] is not None:
            results.add(snap["close_to_results_ms"] / 1000, code=code)
        refused.add(snap["refused_requests"], code=code)
        for node in snap["nodes"]:
            name = str(node.get("name") or node["url"])
            node_up.add(1 if node["up"] else 0, code=code, node=name)
            if node["up"]:
                node_conns.add(node["connections"], code=code, node=name)
                node_phones.add(node.get("phones", 0), code=code, node=name)
    return [joined, players, answers, rate, results, refused, node_up, node_conns, node_phones]
