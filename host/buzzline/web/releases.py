"""The release server: podiums fetch a manifest (``GET /fw/m/DIGEST``, or only what changed since
the one they run: ``GET /fw/p/OLD/DIGEST``) and file bodies by their SHA-256
(``GET /fw/f/SHA256``, with ``Range: bytes=N-`` to resume) over plain HTTP.

Its own listener (podiums on the studio LAN reach it; the operator API stays on 127.0.0.1).
Nothing here is secret: a manifest is checked against its digest and the studio key's signature,
every file against its hash. Bytes sent are counted per podium (``?p=ID``) for the fleet panel
and ``buzzline bench ota``.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import re
import socket

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from buzzline.ota.release import ReleaseError, ReleaseStore, is_digest, manifest_patch

log = logging.getLogger(__name__)
_RANGE = re.compile(r"bytes=(\d+)-$")


def build_app(store: ReleaseStore) -> Starlette:
    sent: collections.Counter[str] = collections.Counter()

    def body(request: Request, data: bytes) -> Response:
        start = 0
        status = 200
        rng = request.headers.get("range")
        if rng is not None:
            m = _RANGE.match(rng.strip())
            if m is None or int(m.group(1)) > len(data):
                return PlainTextResponse("bad range\n", 416)
            start, status = int(m.group(1)), 206
        part = data[start:]
        who = request.query_params.get("p", "")
        sent[who] += len(part)
        headers = {"accept-ranges": "bytes", "cache-control": "no-store"}
        if status == 206:
            headers["content-range"] = f"bytes {start}-{len(data) - 1}/{len(data)}"
        return Response(part, status, headers=headers, media_type="application/octet-stream")

    async def manifest(request: Request) -> Response:
        try:
            data = store.manifest_bytes(request.path_params["digest"])
        except ReleaseError as e:
            return PlainTextResponse(f"{e}\n", 404)
        return body(request, data)

    async def patch(request: Request) -> Response:
        try:
            old = store.manifest_bytes(request.path_params["old"])
            new = store.manifest_bytes(request.path_params["digest"])
        except ReleaseError as e:
            return PlainTextResponse(f"{e}\n", 404)
        return body(request, manifest_patch(old, new))

    async def file(request: Request) -> Response:
        sha = request.path_params["sha"]
        path = store.object_path(sha)
        if not is_digest(sha) or not path.is_file():
            return PlainTextResponse("no such file\n", 404)
        return body(request, await asyncio.to_thread(path.read_bytes))

    app = Starlette(
        routes=[
            Route("/fw/m/{digest}", manifest, methods=["GET"]),
            Route("/fw/p/{old}/{digest}", patch, methods=["GET"]),
            Route("/fw/f/{sha}", file, methods=["GET"]),
        ]
    )
    app.state.sent = sent
    return app


class ReleaseServer:
    """``async with ReleaseServer(store, bind, port) as srv``: ``srv.url`` is what podiums are told."""

    def __init__(self, store: ReleaseStore, bind: str, port: int, advertise: str | None = None) -> None:
        self.store = store
        self.bind = bind
        self.port = port
        self.advertise = advertise
        self.app = build_app(store)
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def sent(self) -> collections.Counter[str]:
        counter: collections.Counter[str] = self.app.state.sent
        return counter

    @property
    def url(self) -> str:
        host = self.advertise or (self.bind if self.bind not in ("0.0.0.0", "") else _lan_address())
        return f"http://{host}:{self.port}/fw"

    async def __aenter__(self) -> ReleaseServer:
        config = uvicorn.Config(
            self.app,
            host=self.bind,
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(), name="release-server")
        while not self._server.started:
            if self._task.done():
                self._task.result()
                raise OSError(f"release server did not start on {self.bind}:{self.port}")
            await asyncio.sleep(0.01)
        log.info("releases from %s on %s", self.store.root, self.url)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


def _lan_address() -> str:
    """This machine's address on its default route (what a podium on the LAN can reach)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET: nothing is sent
            addr: str = s.getsockname()[0]
            return addr
        except OSError:
            return "127.0.0.1"
