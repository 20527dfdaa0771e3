# Protocol v1 kinds only the host and its viewers speak: retained game state, the game/events
# stream and reject reports. Importing this module registers them in codec.KINDS (the package's
# __init__ imports it on CPython; the podium firmware never does, to keep them off its heap).
# Same field layout and type codes as codec.py; MicroPython-safe. codec never imports it back.
from buzzline_protocol import codec

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
