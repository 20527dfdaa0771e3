"""The host's clock models on disk, beside its event log, so a restarted host trusts its podiums'
clocks at once (docs/timing.md): a snapshot written every second, read back at start.

Only valid on the machine and the boot that wrote it: host µs are the monotonic clock, which
restarts with the machine, so the snapshot names the kernel's boot id and is ignored under another.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any

from buzzline.core.clock import ClockBook, export_book, restore_book

log = logging.getLogger("buzzline.host")

BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def machine_boot() -> str | None:
    """This machine's boot id (None where the system does not say: then nothing is restored)."""
    try:
        return BOOT_ID.read_text().strip() or None
    except OSError:
        return None


class ClockStore:
    """``save(snapshot)`` (from a worker thread) and ``restore(book)`` for one log's models."""

    EVERY_S = 1.0  # how stale a restored model may be: its wander allowance covers the gap

    def __init__(self, log_path: Path) -> None:
        self.path = log_path.with_name(log_path.name + ".clocks.json")
        self.boot = machine_boot()

    def snapshot(self, book: ClockBook) -> dict[str, Any]:
        """Taken on the event loop (a copy): the write can then run in a thread."""
        return {"boot_id": self.boot, "models": export_book(book)}

    def save(self, snap: dict[str, Any]) -> None:
        if self.boot is None or not snap["models"]:
            return
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(snap, separators=(",", ":")))
        os.replace(tmp, self.path)  # whole or not at all: a kill mid-write leaves the last one

    def restore(self, book: ClockBook) -> list[str]:
        """The saved models into ``book`` when they were written on this boot of this machine."""
        if self.boot is None:
            return []
        try:
            snap = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            log.warning("clock models in %s not restored: %s", self.path, e)
            return []
        if not isinstance(snap, dict) or snap.get("boot_id") != self.boot:
            return []  # another boot's monotonic clock: the samples mean nothing now
        models = snap.get("models")
        restored = restore_book(book, models) if isinstance(models, dict) else []
        if restored:
            log.info("clock models of %s restored from %s", ", ".join(sorted(restored)), self.path)
        return restored

    async def run(self, book: ClockBook) -> None:
        """Save every ``EVERY_S`` (the host's ``host-clocks`` task). A failed write is logged, not
        fatal: without the file a restart only syncs from scratch."""
        failed = False
        while True:
            await asyncio.sleep(self.EVERY_S)
            try:
                await asyncio.to_thread(self.save, self.snapshot(book))
                failed = False
            except OSError as e:
                if not failed:
                    log.warning("clock models not saved to %s: %s", self.path, e)
                failed = True
