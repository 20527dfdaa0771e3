"""The audience for a viewer apart from the host: `buzzline viewer --audience URL` reads the
host's ``URL/audience/info.json`` once a second and tells this process's screens (the window
and the overlay follow `audience_screens` as they do inside the host).

A host that has no audience (or stops having one) takes the column away; a host that does not
answer leaves the last picture up (the show goes on while the link comes back).
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from typing import Any

from buzzline.adapters import audience_screens

EVERY_S = 1.0
log = logging.getLogger("buzzline.viewer")


def read_info(url: str) -> dict[str, Any] | None:
    """The host's audience info (``None``: it answered, with no audience); OSError/ValueError
    when it did not answer or not in JSON."""
    with urllib.request.urlopen(url.rstrip("/") + "/audience/info.json", timeout=2.0) as r:
        doc = json.loads(r.read())
    if not isinstance(doc, dict) or not doc.get("audience"):
        return None
    return {k: v for k, v in doc.items() if k != "audience"}


async def follow(url: str, every_s: float = EVERY_S) -> None:
    """Until cancelled: each change of the host's audience told to the screens."""
    shown: dict[str, Any] | None = None
    try:
        while True:
            try:
                info = await asyncio.to_thread(read_info, url)
            except (OSError, ValueError) as e:
                log.debug("audience from %s: %s", url, e)
            else:
                if info is None and shown is not None:
                    audience_screens.tell({"code": shown["code"], "gone": True})
                elif info is not None and info != shown:
                    if shown is not None and shown.get("code") != info.get("code"):
                        audience_screens.tell({"code": shown["code"], "gone": True})
                    audience_screens.tell(info)
                shown = info
            await asyncio.sleep(every_s)
    finally:
        if shown is not None:
            audience_screens.tell({"code": shown["code"], "gone": True})
