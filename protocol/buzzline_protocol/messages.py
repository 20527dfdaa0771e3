# Buzzline protocol v1 messages: every kind's fields, validation and decode; the part of the
# codec a podium loads (codec.py adds encode for the host and re-exports all of this).
# Shared by the podium firmware (MicroPython) and the host (CPython), so it keeps
# to the common subset: no dataclasses, enum, abc or runtime typing; no assert
# (MicroPython may compile them away); errors raise ProtocolError with a reason.
import json

try:
    from micropython import const
except ImportError:  # CPython

    def const(x):  # type: ignore[no-redef]
        return x


VERSION = const(1)
# Podium and command messages fit one small MQTT packet; viewer state and events may be larger.
MAX_SIZE = const(512)
MAX_STATE_SIZE = const(32768)
MAX_DEPTH = const(4)

# Reason codes carried by ProtocolError (also used in host reject reports).
R_SIZE = "size"
R_JSON = "json"
R_TYPE = "type"
R_MISSING = "missing"
R_VERSION = "version"
R_KIND = "kind"
R_RANGE = "range"
R_TOPIC = "topic"
REASONS = (R_SIZE, R_JSON, R_TYPE, R_MISSING, R_VERSION, R_KIND, R_RANGE, R_TOPIC)


class ProtocolError(ValueError):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail

    def __str__(self) -> str:
        if self.detail:
            return self.reason + ": " + self.detail
        return self.reason


# Field types.
_INT = const(0)  # integer, lo..hi inclusive
_STR = const(1)  # string, length lo..hi (characters)
_ENUM = const(2)  # string, one of lo (a tuple)
_INTS = const(3)  # list of integers, length lo..hi
_OBJ = const(4)  # JSON object, opaque (ints, strings, bools, null, lists, objects)
_LIST = const(5)  # JSON list, opaque, length lo..hi
_ID = const(6)  # identifier: [a-z0-9_-], length 1..32
_COL = const(7)  # colour: six lowercase hex digits, "rrggbb"

_U31 = 0x7FFFFFFF
_U53 = 0x1FFFFFFFFFFFFF  # the largest integer every JSON reader keeps exact
_PATTERNS = ("off", "idle", "armed", "winner", "locked", "false", "offline", "identify", "solid", "blink")

# name, type, required, lo, hi.  Order is the wire order used by encode().
_CMD = (("cs", _INT, 1, 0, _U53),)
KINDS: dict = {
    # retained presence, podium (with a last will) and host alike
    "presence": (
        ("id", _ID, 1, 0, 0),
        ("state", _ENUM, 1, ("online", "offline"), 0),
        ("b", _INT, 0, 0, _U31),
    ),
    # clock sync, QoS 0: the reply host -> podium (the request, sync, is in upstream.py)
    "syncr": (
        ("id", _ID, 1, 0, 0),
        ("n", _INT, 1, 0, _U31),
        ("t1", _INT, 1, 0, _U53),
        ("t2", _INT, 1, 0, _U53),
        ("t3", _INT, 1, 0, _U53),
        # 1: the host does not trust this boot's clock yet; the next request may follow at once
        ("more", _INT, 0, 0, 1),
    ),
    # host -> podium on .../podium/ID/cmd or .../podium/all/cmd (QoS 1)
    "arm": _CMD + (("ep", _INT, 1, 0, _U53),),
    "lock": _CMD + (("ep", _INT, 1, 0, _U53),),
    "light": _CMD
    + (
        ("pat", _ENUM, 1, _PATTERNS, 0),
        ("col", _COL, 0, 0, 0),
        ("dur", _INT, 0, 0, 3600000),
        ("ep", _INT, 0, 0, _U53),
    ),
    "ident": _CMD + (("dur", _INT, 1, 0, 600000),),
    # measure the capture bound (jumper from the selftest pin to the button input; SPEC 4.8)
    "selftest": _CMD + (("n", _INT, 1, 100, 10000),),
    # ask for a hello: the host heard a boot of this podium it has no hello for (SPEC 3.5)
    "askhello": _CMD,
    # host -> podium, retained on .../podium/ID/config
    "config": (
        ("name", _STR, 1, 1, 32),
        ("col", _COL, 1, 0, 0),
        ("bri", _INT, 1, 0, 255),
        ("deb", _INT, 1, 1, 200),
        ("hb", _INT, 1, 50, 60000),
    ),
    # what podiums send (hello, hb, buzz, ack, fault, sync) is in buzzline_protocol.upstream;
    # state, event and reject (host -> viewers, adapters, anyone) in buzzline_protocol.viewer
}


# kinds that may be larger than one small packet (host -> viewers only)
_LARGE = ("state", "event")


def max_size(kind: str) -> int:
    if kind in _LARGE:
        return MAX_STATE_SIZE
    return MAX_SIZE


# Opaque JSON fields (_LIST, _OBJ) are only in the kinds viewer.py adds (state, event), and it
# puts their check here: a podium, which never loads viewer.py, carries none of that code.
_OPAQUE: list = [None]


def valid_id(s) -> bool:
    if not isinstance(s, str) or not 0 < len(s) <= 32:
        return False
    for c in s:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "_" or c == "-"):
            return False
    return True


def _is_int(x) -> bool:
    # bool is not an int on the wire (and MicroPython does not subclass it anyway)
    return isinstance(x, int) and not isinstance(x, bool)


def _check_text(x: str) -> None:
    # Both json readers accept an escaped surrogate ("\ud800") that no valid UTF-8 carries.
    for c in x:
        if 0xD800 <= ord(c) <= 0xDFFF:
            raise ProtocolError(R_JSON, "string is not valid Unicode")


def _is_hex(s: str) -> bool:
    for c in s:
        if not ("0" <= c <= "9" or "a" <= c <= "f"):
            return False
    return True


def _check_field(name: str, ftype: int, lo, hi, x) -> None:
    if ftype == _INT:
        if not _is_int(x):
            raise ProtocolError(R_TYPE, name + " must be an integer")
        if x < lo or x > hi:
            raise ProtocolError(R_RANGE, name + " out of range")
    elif ftype == _STR:
        if not isinstance(x, str):
            raise ProtocolError(R_TYPE, name + " must be a string")
        _check_text(x)
        if len(x) < lo or len(x) > hi:
            raise ProtocolError(R_RANGE, name + " length out of range")
    elif ftype == _ID:
        if not isinstance(x, str):
            raise ProtocolError(R_TYPE, name + " must be a string")
        if not valid_id(x):
            raise ProtocolError(R_RANGE, name + " is not a valid id")
    elif ftype == _COL:
        if not isinstance(x, str):
            raise ProtocolError(R_TYPE, name + " must be a string")
        if len(x) != 6 or not _is_hex(x):
            raise ProtocolError(R_RANGE, name + " must be six hex digits rrggbb")
    elif ftype == _ENUM:
        if not isinstance(x, str):
            raise ProtocolError(R_TYPE, name + " must be a string")
        if x not in lo:
            raise ProtocolError(R_RANGE, name + " has unknown value")
    elif ftype == _INTS:
        if not isinstance(x, list):
            raise ProtocolError(R_TYPE, name + " must be a list")
        if len(x) < lo or len(x) > hi:
            raise ProtocolError(R_RANGE, name + " length out of range")
        for y in x:
            if not _is_int(y):
                raise ProtocolError(R_TYPE, name + " items must be integers")
            if y < 0 or y > _U53:
                raise ProtocolError(R_RANGE, name + " item out of range")
    else:  # _LIST, _OBJ: opaque JSON, checked by viewer.py (the only kinds that have them)
        check = _OPAQUE[0]
        if check is None:
            raise ProtocolError(R_TYPE, name + " is opaque JSON, not checked here")
        check(name, ftype, hi, x)


def _validate(obj, strict: bool) -> dict:
    # strict (encode): unknown fields are an error; lenient (decode): dropped.
    if not isinstance(obj, dict):
        raise ProtocolError(R_TYPE, "message must be an object")
    if "v" not in obj:
        raise ProtocolError(R_MISSING, "v")
    v = obj["v"]
    if not _is_int(v):
        raise ProtocolError(R_TYPE, "v must be an integer")
    if v != VERSION:
        raise ProtocolError(R_VERSION, "unsupported version " + str(v))
    if "t" not in obj:
        raise ProtocolError(R_MISSING, "t")
    kind = obj["t"]
    if not isinstance(kind, str):
        raise ProtocolError(R_TYPE, "t must be a string")
    _check_text(kind)
    fields = KINDS.get(kind)
    if fields is None:
        raise ProtocolError(R_KIND, "unknown kind " + kind[:32])
    known = 2
    for f in fields:
        name = f[0]
        if name in obj:
            _check_field(name, f[1], f[3], f[4], obj[name])
            known += 1
        elif f[2]:
            raise ProtocolError(R_MISSING, name)
    if not strict and known == len(obj):
        # decode: a dict fresh from the JSON reader with nothing unknown is the result itself
        # (one dict less per message on a podium's small heap)
        return obj
    out = {"v": v, "t": kind}
    for f in fields:
        if f[0] in obj:
            out[f[0]] = obj[f[0]]
    if strict and len(out) != len(obj):
        for k in obj:
            if k not in out:
                raise ProtocolError(R_KIND, "unknown field " + str(k)[:32] + " for " + kind)
    return out


def decode(data) -> dict:
    """Parse and validate wire bytes; returns a dict of known fields or raises ProtocolError."""
    if isinstance(data, str):
        data = data.encode()
    n = len(data)
    if n > MAX_STATE_SIZE:
        raise ProtocolError(R_SIZE, str(n) + " bytes")
    # A MemoryError is no verdict on the message: a podium armed with the GC off collects and
    # decodes again (a lock, a clock sync reply); calling it bad JSON would drop the message.
    try:
        text = bytes(data).decode()
    except MemoryError:
        raise
    except Exception:
        raise ProtocolError(R_JSON, "not UTF-8")
    try:
        obj = json.loads(text)
    except MemoryError:
        raise
    except Exception:
        raise ProtocolError(R_JSON, "not valid JSON")
    # Size first: an oversize message is refused as such whatever else is wrong with it.
    if n > MAX_SIZE and not (isinstance(obj, dict) and obj.get("t") in _LARGE):
        raise ProtocolError(R_SIZE, str(n) + " bytes")
    return _validate(obj, False)
