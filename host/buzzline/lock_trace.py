"""Host-side stamps of the lock path, for benchmarks: off (``HostService.trace is None``) in shows.

One record per lock: from the buzz's bytes read off the broker socket (the host's read stamp,
``buzzline.io.inbox``) to the lock's bytes handed to it (the client's socket send, hooked by
``attach``), stamped between the stages the buzz goes through on the way by the host service.

    read ─queue─▶ dequeued ─ingest─▶ accepted ─map─▶ mapped ─engine─▶ decided
         ─publish─▶ sock (the send call with the lock's bytes) ─▶ sent (the call returned)
         then, off the lock's path: log (input and decisions appended), fsync

``sent - sock`` is the kernel's: on loopback, send() hands the bytes to the broker and wakes it,
and on a busy machine the woken broker may take the CPU before the call returns.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from buzzline.hosttime import now_us

if TYPE_CHECKING:
    from buzzline.io.mqttclient import DirectWriteClient

# The stages, in order, each named after what happens between two stamps.
STAGES = ("queue", "ingest", "map", "engine", "publish")  # between MARKS and "sock"
MARKS = ("read", "dequeued", "ingest", "map", "engine")
# After the lock, off its path: the input and decisions appended to the log, and the fsync.
AFTER = ("log", "fsync")


def cpu_us() -> int:
    """CPU time of this thread: against wall time, what the process spent waiting for a core."""
    return time.thread_time_ns() // 1000


class LockTrace:
    """Stamps of every lock the host sends; ``records`` holds one dict of stamps per lock."""

    def __init__(self, limit: int = 100_000) -> None:
        self.records: list[dict[str, Any]] = []
        self.limit = limit
        self.tag = ""  # copied into every record (the benchmark names its modes with it)
        self._cur: dict[str, int] = {}
        self._pending: list[tuple[bytes, dict[str, Any]]] = []
        self._last: dict[str, Any] = {}
        self._client: DirectWriteClient | None = None

    # ---- the socket ends (hooked into the client) ----------------------------------------------
    def attach(self, client: DirectWriteClient) -> None:
        """Tap a connected client's socket send: the lock's bytes are matched there."""

        def wrap(inner_send: Callable[[bytes | bytearray], int]) -> Callable[[bytes | bytearray], int]:
            def sock_send(buf: bytes | bytearray) -> int:
                t0 = now_us()
                c0 = cpu_us()
                n = inner_send(buf)
                if self._pending:
                    self._sent(bytes(buf[:n]), t0, c0)
                return n

            return sock_send

        self._client = client
        client.wrap_sends(wrap)

    def _sent(self, buf: bytes, t0: int, c0: int) -> None:
        t = now_us()
        keep = []
        for payload, rec in self._pending:
            if payload in buf:
                rec["sock"] = t0
                rec["cpu"] = c0 - rec["cpu"]  # CPU time of the host's thread, dequeued -> sock
                rec["sent"] = t
                if len(self.records) < self.limit:
                    self.records.append(rec)
            else:
                keep.append((payload, rec))
        self._pending = keep

    # ---- the stages (marked by the host service) -------------------------------------------------
    def begin(self, read_us: int) -> None:
        """A message read off the socket at ``read_us`` reaches the host's handler."""
        self._cur = {"read": read_us, "dequeued": now_us(), "cpu": cpu_us()}

    def mark(self, stage: str) -> None:
        if self._cur:
            self._cur[stage] = now_us()

    def lock(self, payload: bytes) -> None:
        """The current message made a lock: its bytes will be matched in the socket sends."""
        cur = self._cur
        self._last = {}
        if all(m in cur for m in MARKS):
            # packets already waiting in the client's queue go to the socket ahead of the lock
            ahead = self._client.waiting if self._client is not None else 0
            self._last = {**cur, "tag": self.tag, "ahead": ahead}
            self._pending.append((payload, self._last))
        self._cur = {}

    def note(self, **durations_us: int) -> None:
        """Durations after the last lock, off its path (``log``, ``fsync``)."""
        self._last.update(durations_us)
