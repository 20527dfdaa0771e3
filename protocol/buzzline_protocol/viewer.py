# Protocol v1 kinds only the host and its viewers speak: retained game state, the game/events
# stream and reject reports. Importing this module registers them in codec.KINDS (the package's
# __init__ imports it on CPython; the podium firmware never does, to keep them off its heap).
# With them, the check of their opaque JSON fields (lists, objects). Same field layout and type
# codes as messages.py; MicroPython-safe. Neither codec nor messages imports it back.
from buzzline_protocol import codec, messages
from buzzline_protocol.messages import MAX_DEPTH, R_RANGE, R_TYPE, ProtocolError, _check_text, _is_int

# codec's field type codes (its names are const() there, so not visible from here)
_INT = 0
_STR = 1
_ENUM = 2
_OBJ = 4
_LIST = 5
_ID = 6
_U31 = 0x7FFFFFFF
_U53 = 0x1FFFFFFFFFFFFF
_PHASES = ("idle", "reading", "open", "answering", "judged", "ended")

# host -> viewers, retained on .../game/state
codec.KINDS["state"] = (
    ("phase", _ENUM, 1, _PHASES, 0),
    ("ep", _INT, 1, 0, _U53),
    ("q", _INT, 1, 0, _U31),
    ("ts", _INT, 1, 0, _U53),
    ("winner", _STR, 0, 0, 32),
    ("order", _LIST, 0, 0, 64),
    ("scores", _OBJ, 0, 0, 0),
    ("info", _OBJ, 0, 0, 0),
)
# host -> adapters, consoles, overlays on .../game/events (QoS 1, not retained): one
# message per event of a notice; n = notice sequence, i of `of` = its place in the notice
codec.KINDS["event"] = (
    ("n", _INT, 1, 0, _U53),
    ("i", _INT, 1, 0, 255),
    ("of", _INT, 1, 1, 256),
    ("ts", _INT, 1, 0, _U53),
    ("k", _ID, 1, 0, 0),
    ("d", _OBJ, 0, 0, 0),
)
# host -> anyone, on .../host/rejects (QoS 0)
codec.KINDS["reject"] = (
    ("reason", _STR, 1, 1, 16),
    ("topic", _STR, 1, 0, 160),
    ("n", _INT, 1, 0, _U53),
    ("id", _STR, 0, 0, 32),
    ("detail", _STR, 0, 0, 160),
)


# The check of opaque JSON fields (any ints, strings, bools, null, lists and objects, nested at
# most MAX_DEPTH deep), which only these kinds have: installed into messages._check_field.
def _check_opaque(x, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise ProtocolError(R_RANGE, "nested too deep")
    if isinstance(x, str):
        _check_text(x)
        return
    if x is None or isinstance(x, bool) or _is_int(x):
        return
    if isinstance(x, list):
        for y in x:
            _check_opaque(y, depth + 1)
        return
    if isinstance(x, dict):
        for k in x:
            if not isinstance(k, str):
                raise ProtocolError(R_TYPE, "object key")
            _check_text(k)
            _check_opaque(x[k], depth + 1)
        return
    raise ProtocolError(R_TYPE, "value of type " + type(x).__name__)


def _check_opaque_field(name: str, ftype: int, hi, x) -> None:
    if ftype == _LIST:
        if not isinstance(x, list):
            raise ProtocolError(R_TYPE, name + " must be a list")
        if len(x) > hi:
            raise ProtocolError(R_RANGE, name + " too long")
    elif not isinstance(x, dict):
        raise ProtocolError(R_TYPE, name + " must be an object")
    _check_opaque(x, 1)


messages._OPAQUE[0] = _check_opaque_field
