"""One writer per file: an exclusive ``flock`` on a ``PATH.lock`` beside it, held while open.

The event log takes one so a second host started on the same log is refused at once, instead
of both appending to it. The lock lives on its own file, not on the SQLite database: closing
any descriptor of the database would drop SQLite's own POSIX locks. The kernel releases the
lock when its holder dies, so a crashed host never leaves a stale one behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path


class FileLocked(RuntimeError):
    """Another process (or another open in this one) holds the lock; the message says who."""


class LockFile:
    """``LockFile(path)`` takes the lock on ``path + ".lock"`` or raises ``FileLocked``."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(f"{path}.lock")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
                os.close(fd)
                raise FileLocked(f"{path} is in use by another process (pid {holder})") from None
            except BaseException:
                os.close(fd)
                raise
            # A holder that was closing may have unlinked the file after we opened it: then the
            # lock we hold is on a name nobody will see; take it again on the current file.
            try:
                same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._fd: int | None = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # before unlocking, so a waiting taker retries on a fresh file
        os.close(self._fd)
        self._fd = None
