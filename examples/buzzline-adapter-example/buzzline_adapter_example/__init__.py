"""Every Buzzline notice as one JSON line in a file: the smallest useful adapter."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

from buzzline.adapters.api import Adapter, AdapterContext, Field, Notice, Status


class JsonLines(Adapter):
    """Append each notice (its events and, optionally, the view) to a JSON-lines file."""

    KIND = "jsonl"
    TITLE = "Every notice as a JSON line in a file"
    CONFIG_SCHEMA = (
        Field("path", "str", required=True, help="file to append to (created if missing)"),
        Field("view", "bool", default=False, help="also write the whole view with each notice"),
    )

    _file: IO[str] | None = None

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx, self.config = ctx, config
        try:
            # open for the adapter's whole run (closed in stop), so no context manager
            self._file = Path(config["path"]).open("a", encoding="utf-8")  # noqa: SIM115
        except OSError as e:
            ctx.set_status(Status.BAD_CONFIG, f"path: cannot open: {e.strerror}")
            raise
        ctx.set_status(Status.OK, f"writing {config['path']}")

    async def handle(self, notice: Notice) -> None:
        if self._file is None:
            return
        line: dict[str, Any] = {"seq": notice.seq, "host_us": notice.host_us, "events": list(notice.events)}
        if self.config["view"]:
            line["view"] = notice.view
        self._file.write(json.dumps(line, sort_keys=True) + "\n")
        self._file.flush()

    async def stop(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
