# Protocol v1 kinds a podium sends (hello, hb, buzz, ack, fault on .../up; sync on .../sync).
# Importing this module registers them in messages.KINDS (which codec re-exports). The host
# decodes them, so CPython always loads it (buzzline_protocol/__init__.py); a podium never
# does: it writes these messages with podium/wire.py, byte for byte what codec.encode makes
# from these tables (the firmware tests compare both under MicroPython), and keeps the tables
# off its heap (about 4 KB).
# Same field layout and type codes as messages.py; MicroPython-safe.
from buzzline_protocol import messages

# messages.py field type codes (its names are const() there, so not visible from here)
_INT = 0
_STR = 1
_ENUM = 2
_INTS = 3
_ID = 6
_U31 = 0x7FFFFFFF
_U53 = 0x1FFFFFFFFFFFFF

# name, type, required, lo, hi.  Order is the wire order used by encode().
_UP = (("id", _ID, 1, 0, 0), ("b", _INT, 1, 0, _U31), ("seq", _INT, 1, 0, _U53))
# podium -> host on .../podium/ID/up (QoS 1, in order)
messages.KINDS["hello"] = _UP + (
    ("pt", _INT, 1, 0, _U53),
    ("hw", _STR, 1, 1, 32),
    ("board", _STR, 1, 1, 16),
    ("fw", _STR, 1, 1, 16),
    ("cap", _INTS, 0, 2, 2),  # capture bound [p99_us, max_us] from the podium's selftest
)
messages.KINDS["hb"] = _UP + (
    ("pt", _INT, 1, 0, _U53),
    ("ep", _INT, 0, 0, _U53),
    ("rssi", _INT, 0, -127, 0),
    ("batt", _INT, 0, 0, 20000),
    ("rst", _INT, 0, 0, _U31),  # podium tasks restarted since boot (absent: none)
)
messages.KINDS["buzz"] = _UP + (("pt", _INT, 1, 0, _U53), ("ep", _INT, 1, 0, _U53))
# fp/np: the earliest press time and the number of presses in epoch ep (end-to-end check)
messages.KINDS["ack"] = _UP + (
    ("pt", _INT, 1, 0, _U53),
    ("cs", _INT, 1, 0, _U53),
    ("ep", _INT, 0, 0, _U53),
    ("fp", _INT, 0, 0, _U53),
    ("np", _INT, 0, 0, _U31),
)
messages.KINDS["fault"] = _UP + (
    ("pt", _INT, 1, 0, _U53),
    ("code", _ENUM, 1, ("stuck", "chatter", "cleared"), 0),
    ("n", _INT, 0, 0, _U31),
)
# clock sync request, QoS 0, podium -> host on .../podium/ID/sync (the reply, syncr, is in messages.py)
messages.KINDS["sync"] = (
    ("id", _ID, 1, 0, 0),
    ("b", _INT, 1, 0, _U31),
    ("n", _INT, 1, 0, _U31),
    ("t1", _INT, 1, 0, _U53),
    ("prev", _INTS, 0, 5, 5),
)
