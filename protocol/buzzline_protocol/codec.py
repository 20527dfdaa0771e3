# Buzzline protocol v1 codec: encode, decode and validate every message kind.
# The tables, validation and decode live in messages.py (all re-exported here, so the host
# imports this one module); encode lives here: a podium writes what it sends with
# podium/wire.py and loads messages.py only, without the encoder.
# MicroPython-safe like messages.py (the vector runner runs it under both interpreters).
from buzzline_protocol.messages import (
    KINDS,
    MAX_DEPTH,
    MAX_SIZE,
    MAX_STATE_SIZE,
    R_JSON,
    R_KIND,
    R_MISSING,
    R_RANGE,
    R_SIZE,
    R_TOPIC,
    R_TYPE,
    R_VERSION,
    REASONS,
    VERSION,
    ProtocolError,
    _is_int,
    _validate,
    decode,
    max_size,
    valid_id,
)

# the host's one import of the codec: everything messages.py has, and encode
__all__ = [
    "KINDS",
    "MAX_DEPTH",
    "MAX_SIZE",
    "MAX_STATE_SIZE",
    "REASONS",
    "R_JSON",
    "R_KIND",
    "R_MISSING",
    "R_RANGE",
    "R_SIZE",
    "R_TOPIC",
    "R_TYPE",
    "R_VERSION",
    "VERSION",
    "ProtocolError",
    "decode",
    "encode",
    "max_size",
    "valid_id",
    "validate",
]


def validate(obj) -> dict:
    """Check a message dict strictly; returns it reduced to its known fields."""
    return _validate(obj, True)


def _esc_str(s: str, parts: list) -> None:
    parts.append('"')
    start = 0
    for i in range(len(s)):
        c = s[i]
        if c == '"' or c == "\\" or c < " ":
            if start < i:
                parts.append(s[start:i])
            if c == '"':
                parts.append('\\"')
            elif c == "\\":
                parts.append("\\\\")
            else:
                h = hex(ord(c))[2:]
                parts.append("\\u" + "0" * (4 - len(h)) + h)
            start = i + 1
    if start < len(s):
        parts.append(s[start:])
    parts.append('"')


def _enc(x, parts: list) -> None:
    # Deterministic: no spaces, object keys sorted, so both interpreters emit the same bytes.
    if x is None:
        parts.append("null")
    elif x is True:
        parts.append("true")
    elif x is False:
        parts.append("false")
    elif _is_int(x):
        parts.append(str(x))
    elif isinstance(x, str):
        _esc_str(x, parts)
    elif isinstance(x, list):
        parts.append("[")
        for i in range(len(x)):
            if i:
                parts.append(",")
            _enc(x[i], parts)
        parts.append("]")
    elif isinstance(x, dict):
        parts.append("{")
        first = True
        for k in sorted(x):
            if not first:
                parts.append(",")
            first = False
            _esc_str(k, parts)
            parts.append(":")
            _enc(x[k], parts)
        parts.append("}")
    else:
        raise ProtocolError(R_TYPE, "cannot encode " + type(x).__name__)


def encode(msg: dict) -> bytes:
    """Validate msg (which must carry "t"; "v" defaults to VERSION) and return its wire bytes."""
    if isinstance(msg, dict) and "v" not in msg:
        m = {"v": VERSION}
        for k in msg:
            m[k] = msg[k]
        msg = m
    out = _validate(msg, True)
    kind = out["t"]
    parts = ['{"v":', str(VERSION), ',"t":']
    _esc_str(kind, parts)
    for f in KINDS[kind]:
        name = f[0]
        if name in out:
            parts.append(',"')
            parts.append(name)
            parts.append('":')
            _enc(out[name], parts)
    parts.append("}")
    try:
        data = "".join(parts).encode()
    except UnicodeError:  # a lone surrogate (CPython); MicroPython encodes it anyway
        raise ProtocolError(R_TYPE, "string is not valid Unicode")
    if len(data) > max_size(kind):
        raise ProtocolError(R_SIZE, str(len(data)) + " bytes for " + kind)
    return data
