"""What the operator API accepts: checks on a request body before anything acts on it.

Every route that takes a body reads it with ``read_json`` (size cap, UTF-8, strict JSON: no NaN
or Infinity, no number that overflows to infinity, bounded nesting); a command body then goes
through ``check_command`` (shape, the command's signature, scalar arguments, capped strings:
``core.commandargs``, which adapters' commands pass too).
Each failure is a ``BadInput`` with the HTTP status and a reason a person can act on, so a bad
body is a 4xx that says why, never a 500, and nothing oversized reaches the event log.
"""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any

from buzzline.core import commandargs
from buzzline.core.commandargs import MAX_STRING

__all__ = ["MAX_STRING", "BadInput", "check_args", "check_command", "decode_json", "read_body", "read_json"]

if TYPE_CHECKING:
    from starlette.requests import Request

MAX_BODY = 64 * 1024  # bytes: a command is a few dozen
MAX_DEPTH = 8  # levels of objects and arrays in any body


class BadInput(ValueError):
    """A request the API refuses: ``status`` (400, 413) and ``reason``."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The body, refused (413) past ``limit`` bytes without reading more than that."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BadInput("bad Content-Length")
        if int(declared) > limit:
            raise BadInput(f"body over {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BadInput(f"body over {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


def _no_constant(name: str) -> Any:
    raise BadInput(f"{name} is not a number JSON allows")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadInput(f"number {text[:20]} is out of range")
    return value


def decode_json(data: bytes, max_depth: int = MAX_DEPTH) -> Any:
    """Strict JSON from bytes: UTF-8, finite numbers only, at most ``max_depth`` levels deep."""
    if len(data) > MAX_BODY:
        raise BadInput(f"body over {MAX_BODY} bytes", 413)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput("body is not UTF-8") from None
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite)
    except BadInput:
        raise
    except RecursionError:  # nesting deep enough to exhaust the parser
        raise BadInput(f"body nested deeper than {max_depth} levels") from None
    except ValueError as e:
        raise BadInput(f"body is not JSON ({e})") from None
    _check_depth(value, max_depth)
    return value


def _check_depth(value: Any, max_depth: int) -> None:
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict | list):
            if depth > max_depth:
                raise BadInput(f"body nested deeper than {max_depth} levels")
            stack.extend((item, depth + 1) for item in (v.values() if isinstance(v, dict) else v))


async def read_json(request: Request, limit: int = MAX_BODY) -> Any:
    """``read_body`` then ``decode_json``: the one way a route reads a JSON body."""
    return decode_json(await read_body(request, limit))


def check_args(name: str, args: Any) -> dict[str, Any]:
    """``core.commandargs.check_args`` with its refusal as a 400."""
    try:
        return commandargs.check_args(name, args)
    except commandargs.BadArgs as e:
        raise BadInput(e.reason) from None


def check_command(body: Any) -> tuple[str, dict[str, Any]]:
    """``core.commandargs.check_command`` with its refusal as a 400."""
    try:
        return commandargs.check_command(body)
    except commandargs.BadArgs as e:
        raise BadInput(e.reason) from None
