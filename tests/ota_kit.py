"""Test parts for firmware updates: releases with one module changed, and the release server run
in a thread (the host's own ReleaseServer)."""

from __future__ import annotations

import asyncio
import threading

from buzzline.benchmarks.ota import one_module_release as variant  # a release, one module changed
from buzzline.io.broker import free_port
from buzzline.ota.release import Manifest, ReleaseStore
from buzzline.web.releases import ReleaseServer


class ServerThread:
    """The release server on its own event loop in a thread; stop() and start() again (a host
    restart) keep the same port."""

    def __init__(self, store: ReleaseStore, port: int | None = None) -> None:
        self.store = store
        self.port = port or free_port()
        self.server: ReleaseServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/fw"

    def start(self) -> ServerThread:
        ready = threading.Event()

        async def main() -> None:
            self._stop = asyncio.Event()
            self.server = ReleaseServer(self.store, "127.0.0.1", self.port)
            async with self.server:
                ready.set()
                await self._stop.wait()

        def run() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(main())
            self._loop.close()

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("release server did not start")
        return self

    def sent(self, pid: str) -> int:
        return 0 if self.server is None else self.server.sent[pid]

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None and self._thread is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
            self._thread.join(10)
            self._thread = None


def module_size(store: ReleaseStore, digest: str, path: str) -> int:
    m: Manifest = store.manifest(digest)
    return next(f.size for f in m.files if f.path == path)


__all__ = ["ServerThread", "module_size", "variant"]
