"""A command's arguments checked against its signature before anything acts on them.

Pure: every control surface (the operator API, an in-host adapter, OSC, Companion) hands the
host a command name and its arguments; ``check_args`` refuses unknown names, unknown argument
names and values that are not plain scalars, with a reason a person can act on. What the values
mean is the engine's to judge (a refusal). The web app turns a ``BadArgs`` into a 400.
"""

from __future__ import annotations

import math
from typing import Any

from buzzline.core.events import COMMAND_ARGS, HOST_COMMAND_ARGS

SIGNATURES = {**COMMAND_ARGS, **HOST_COMMAND_ARGS}  # the game's commands and the host's own
MAX_STRING = 256  # chars, for any string argument of a command (names are ≤ 32)


class BadArgs(ValueError):
    """A command the host refuses to look at: ``reason`` says why."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_args(name: str, args: Any) -> dict[str, Any]:
    """A command's arguments against its signature: known names only, scalar values, strings
    capped, numbers finite. The values' meaning is the engine's to judge (a refusal, 409)."""
    if name not in SIGNATURES:
        raise BadArgs(f"unknown command {name[:40]!r} (expected one of: {', '.join(SIGNATURES)})")
    if args is None:
        return {}
    if not isinstance(args, dict):
        raise BadArgs("args must be an object")
    takes = SIGNATURES[name]
    for key, value in args.items():
        if key not in takes:
            what = f"takes {', '.join(sorted(takes))}" if takes else "takes no arguments"
            raise BadArgs(f"{name} {what}, not {str(key)[:40]!r}")
        if isinstance(value, str):
            if len(value) > MAX_STRING:
                raise BadArgs(f"argument {key!r} is over {MAX_STRING} characters")
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise BadArgs(f"argument {key!r} is not a finite number")
        elif value is not None and not isinstance(value, bool | int):
            raise BadArgs(f"argument {key!r} must be text, a number, true/false or null")
    return dict(args)


def check_command(body: Any) -> tuple[str, dict[str, Any]]:
    """A command body ``{"name": ..., "args": {...}}`` checked; returns (name, args)."""
    if not isinstance(body, dict) or not isinstance(body.get("name"), str):
        raise BadArgs('expected {"name": ..., "args": {...}}')
    extra = sorted(str(k)[:40] for k in body if k not in ("name", "args"))
    if extra:
        raise BadArgs(f'unknown field {extra[0]!r} (a command is {{"name": ..., "args": {{...}}}})')
    name: str = body["name"]
    return name, check_args(name, body.get("args"))
