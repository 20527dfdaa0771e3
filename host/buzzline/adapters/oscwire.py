"""OSC on the wire, pure: mapping rules and their templates, message bytes (python-osc), the two
TCP framings, a per-target rate limiter that keeps the latest message per path, source
allow-lists, and the channel QLC+ derives from a path. No sockets here (see ``osc`` and
``osc_control`` for the I/O).
"""

from __future__ import annotations

import ipaddress
import string
import struct
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from pythonosc import slip
from pythonosc.osc_message import OscMessage, ParseError
from pythonosc.osc_message_builder import BuildError, OscMessageBuilder

from buzzline.adapters.api import ConfigError
from buzzline.adapters.stage import EVENT_TRIGGERS, FLAGS

MAX_FRAME = 65536  # a TCP frame longer than this is a broken peer, not a message


class OscError(ValueError):
    """Bytes that are not an OSC message, or a message that cannot be built."""


# ---- messages ------------------------------------------------------------------------------------


def build(path: str, args: Sequence[Any]) -> bytes:
    """One OSC message: ints as ``i``, floats as ``f``, text as ``s``, booleans as ``T``/``F``."""
    b = OscMessageBuilder(path)
    try:
        for a in args:
            if isinstance(a, bool):
                b.add_arg(a, OscMessageBuilder.ARG_TYPE_TRUE if a else OscMessageBuilder.ARG_TYPE_FALSE)
            elif isinstance(a, int):
                b.add_arg(a, OscMessageBuilder.ARG_TYPE_INT)
            elif isinstance(a, float):
                b.add_arg(a, OscMessageBuilder.ARG_TYPE_FLOAT)
            else:
                b.add_arg(str(a), OscMessageBuilder.ARG_TYPE_STRING)
        return bytes(b.build().dgram)
    except (BuildError, ValueError, struct.error) as e:
        raise OscError(f"cannot build {path}: {e}") from e


def parse(data: bytes) -> tuple[str, list[Any]]:
    """A message's address and arguments (bundles are not accepted: OscError)."""
    if not OscMessage.dgram_is_message(data):
        raise OscError("not an OSC message")
    try:
        msg = OscMessage(data)
    except (ParseError, ValueError, IndexError, struct.error) as e:
        raise OscError(f"malformed OSC message: {e}") from e
    return msg.address, list(msg.params)


# ---- TCP framing ---------------------------------------------------------------------------------


def frame(data: bytes, framing: str) -> bytes:
    """``slip`` (OSC 1.1: END-delimited, escaped) or ``length`` (OSC 1.0: int32 size prefix)."""
    if framing == "slip":
        return bytes(slip.encode(data))
    return struct.pack(">i", len(data)) + data


class Deframer:
    """Splits a TCP byte stream into messages; ``feed`` returns the complete ones."""

    def __init__(self, framing: str) -> None:
        self.framing = framing
        self.buf = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        self.buf += data
        out: list[bytes] = []
        if self.framing == "slip":
            while (end := self.buf.find(slip.END)) >= 0:
                body = bytes(self.buf[:end])
                del self.buf[: end + 1]
                if body:  # between two ENDs (a frame may open with one, or not)
                    try:
                        out.append(bytes(slip.decode(slip.END + body + slip.END)))
                    except slip.ProtocolError as e:
                        raise OscError(f"bad SLIP frame: {e}") from e
        else:
            while len(self.buf) >= 4:
                (n,) = struct.unpack(">i", self.buf[:4])
                if n < 0 or n > MAX_FRAME:
                    raise OscError(f"bad frame length {n}")
                if len(self.buf) < 4 + n:
                    break
                out.append(bytes(self.buf[4 : 4 + n]))
                del self.buf[: 4 + n]
        if len(self.buf) > MAX_FRAME:
            raise OscError("frame too long")
        return out


# ---- mapping rules and templates -----------------------------------------------------------------


class Rule(NamedTuple):
    """One mapping: on a trigger (an event, or a flag being set or cleared), send ``path`` with
    ``args`` (``set``/``clear`` for a flag rule). Strings are templates."""

    name: str
    trigger: str  # event name, or the flag name for a flag rule
    flag: bool
    path: str
    args: tuple[Any, ...]
    clear: tuple[Any, ...] = ()


_FMT = string.Formatter()


def parse_rules(table: Mapping[str, Any]) -> dict[str, Rule]:
    """Rules from ``{name: {on|state, path, args|set|clear, enabled}}``; ConfigError if wrong."""
    out: dict[str, Rule] = {}
    for name, spec in table.items():
        where = f"map.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError(where, "expected a table with on/state and path")
        unknown = set(spec) - {"on", "state", "path", "args", "set", "clear", "enabled"}
        if unknown:
            raise ConfigError(where, f"unknown keys {', '.join(sorted(unknown))}")
        if spec.get("enabled", True) is False:
            continue
        path = spec.get("path")
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(where, "path must be text starting with /")
        _check_template(where, path)
        if ("on" in spec) == ("state" in spec):
            raise ConfigError(where, "give exactly one of on (an event) or state (a flag)")
        if "on" in spec:
            if spec["on"] not in (*EVENT_TRIGGERS, "connect"):
                known = ", ".join((*EVENT_TRIGGERS, "connect"))
                raise ConfigError(where, f"unknown event {spec['on']!r} (known: {known})")
            out[name] = Rule(name, spec["on"], False, path, _args(where, spec.get("args", [])))
        else:
            if spec["state"] not in FLAGS:
                raise ConfigError(where, f"unknown state {spec['state']!r} (known: {', '.join(FLAGS)})")
            on = _args(where, spec.get("set", [1.0]))
            off = _args(where, spec.get("clear", [0.0]))
            out[name] = Rule(name, spec["state"], True, path, on, off)
    return out


def _args(where: str, raw: Any) -> tuple[Any, ...]:
    if not isinstance(raw, list | tuple):
        raise ConfigError(where, f"arguments must be a list, got {raw!r}")
    for a in raw:
        if isinstance(a, str):
            _check_template(where, a)
        elif not isinstance(a, bool | int | float):
            raise ConfigError(where, f"an argument must be a number, true/false or text, got {a!r}")
    return tuple(raw)


def _check_template(where: str, text: str) -> None:
    try:
        list(_FMT.parse(text))
    except ValueError as e:
        raise ConfigError(where, f"bad template {text!r}: {e}") from e


def resolve_vars(variables: Mapping[str, Any], ctx: Mapping[str, Any]) -> dict[str, Any]:
    """The context with the show's variables added: a list is indexed by seat (``chan = [11, 12]``
    gives seat 2 channel 12), text is itself a template (``buzz_cue = "buzz-{seat}"``)."""
    out = dict(ctx)
    for key, value in variables.items():
        if isinstance(value, list):
            seat = ctx.get("seat")
            if isinstance(seat, int) and 0 < seat <= len(value):
                out[key] = value[seat - 1]
        elif not isinstance(value, str):
            out[key] = value
    for key, value in variables.items():  # text last: it may name the values above
        if isinstance(value, str):
            try:
                out[key] = value.format_map(out)
            except (KeyError, ValueError, IndexError, AttributeError):
                continue  # needs something this context lacks: the rules that use it are skipped
    return out


def render(text: str, ctx: Mapping[str, Any]) -> Any:
    """A template with the context filled in. Exactly ``{name}`` keeps the value's type; a prefix
    ``i:``, ``f:`` or ``s:`` converts the result. KeyError when a name is missing."""
    kind = ""
    if len(text) > 2 and text[1] == ":" and text[0] in "ifs":
        kind, text = text[0], text[2:]
    parts = list(_FMT.parse(text))
    if len(parts) == 1 and parts[0][0] == "" and parts[0][1] and not parts[0][2] and not parts[0][3]:
        value: Any = ctx[parts[0][1]]
    else:
        value = text.format_map(ctx)
    try:
        if kind == "i":
            return int(float(value))
        if kind == "f":
            return float(value)
    except (TypeError, ValueError) as e:
        raise KeyError(f"{text!r} is not a number here") from e
    if kind == "s":
        return str(value)
    return value


def message(rule: Rule, setting: bool, ctx: Mapping[str, Any]) -> tuple[str, list[Any]]:
    """The path and arguments of one rule in one context (KeyError when it does not apply)."""
    path = str(render(rule.path, ctx))
    args = rule.args if setting else rule.clear
    return path, [render(a, ctx) if isinstance(a, str) else a for a in args]


# ---- rate limiting -------------------------------------------------------------------------------


class RateLimiter:
    """A token bucket per target. Within the budget a message goes at once; beyond it, the
    latest message per path waits (an older one for the same path is superseded and counted)
    and goes out, in the order paths first waited, as the budget refills."""

    def __init__(self, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = float(burst)
        self.tokens = float(burst)
        self.t = 0.0
        self.pending: dict[str, bytes] = {}
        self.superseded = 0

    def _refill(self, now: float) -> None:
        if now > self.t:
            self.tokens = min(self.burst, self.tokens + (now - self.t) * self.rate)
            self.t = now

    def offer(self, path: str, data: bytes, now: float) -> list[bytes]:
        self._refill(now)
        if path in self.pending:
            self.superseded += 1
            del self.pending[path]  # it waits again, behind the paths already waiting
        if not self.pending and self.tokens >= 1:
            self.tokens -= 1
            return [data]
        self.pending[path] = data
        return self.due(now)

    def due(self, now: float) -> list[bytes]:
        self._refill(now)
        out = []
        while self.pending and self.tokens >= 1:
            path = next(iter(self.pending))
            out.append(self.pending.pop(path))
            self.tokens -= 1
        return out

    def next_time(self) -> float | None:
        """When the next waiting message can go (None: nothing waits)."""
        if not self.pending:
            return None
        return self.t + max(0.0, 1 - self.tokens) / self.rate


# ---- source allow-lists --------------------------------------------------------------------------


def networks(
    cidrs: Sequence[str], field: str = "allow"
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    out = []
    for c in cidrs:
        try:
            out.append(ipaddress.ip_network(c, strict=False))
        except ValueError as e:
            raise ConfigError(field, f"{c!r} is not an address or CIDR block: {e}") from e
    return out


def allowed(addr: str, nets: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(addr.split("%")[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip.version == n.version and ip in n for n in nets)


# ---- QLC+ ----------------------------------------------------------------------------------------


def qlc_channel(path: str) -> int:
    """The input channel QLC+'s OSC plugin gives a path: Qt's qChecksum of its bytes, which is
    CRC-16/X-25 (reflected polynomial 0x1021, initial and final 0xFFFF)."""
    crc = 0xFFFF
    for byte in path.encode():
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF
