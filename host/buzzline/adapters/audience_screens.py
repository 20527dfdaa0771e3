"""The audience on this process's screens: the audience adapter tells, the viewer window and the
overlay's scene follow (without loading the NATS client themselves).

``tell(info)`` is called by an adapter with its `screen()` whenever that changes, and with
``{"code": CODE, "gone": True}`` when it stops. Watchers are called on the event loop and must
not block. ``PAGE_BASE`` is the phone page's address on this host, set by the operator server
when it listens (an adapter's ``join_url`` setting wins): a QR code needs an address a phone can
open.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

ScreenWatcher = Callable[[dict[str, Any]], None]

log = logging.getLogger("buzzline.audience")
_watchers: list[ScreenWatcher] = []
_current: dict[str, dict[str, Any]] = {}  # code -> the latest screen info
PAGE_BASE = {"url": ""}


def tell(info: dict[str, Any]) -> None:
    code = str(info.get("code", ""))
    if info.get("gone"):
        _current.pop(code, None)
    else:
        _current[code] = info
    for fn in list(_watchers):
        try:
            fn(info)
        except Exception:  # a screen's fault is its own: the show goes on
            log.exception("audience: a screen failed")


def watch(fn: ScreenWatcher) -> Callable[[], None]:
    """Follow every audience adapter of this process (what they show now, at once); the undo."""
    _watchers.append(fn)
    for info in list(_current.values()):
        fn(info)

    def undo() -> None:
        if fn in _watchers:
            _watchers.remove(fn)

    return undo
