# Protocol v1 kinds for firmware updates over the network (SPEC 3.10): the host's update,
# rollback and fwgood commands on podium/ID/fw and the podium's fwst reports on podium/ID/fwst.
# Importing this module registers them in the kinds table (messages.KINDS, codec's too): CPython
# loads it always, a podium only
# when an update command arrives (podium.update), so they cost nothing on the armed path.
from buzzline_protocol import messages

# codec's field type codes (its names are const() there, so not visible from here)
_INT = 0
_STR = 1
_ENUM = 2
_ID = 6
_U31 = 0x7FFFFFFF
_U53 = 0x1FFFFFFFFFFFFF

STEPS = ("fetch", "switch", "trial", "good", "failed", "rolledback")
ERRORS = (
    "busy",  # another update is running
    "armed",  # a question is open
    "http",  # the release server refused or the link broke (retry resumes)
    "hash",  # a file's bytes do not match its SHA-256
    "man",  # the manifest is malformed or is not the one announced
    "sig",  # the manifest's signature does not match the studio key
    "nokey",  # this podium has no studio key (re-flash it with one)
    "board",  # the release is for another board
    "io",  # the podium's filesystem failed (full?)
    "boot",  # the new release failed to start (repeated boots, or it raised)
    "noprev",  # rollback: there is no previous release
)

messages.KINDS["update"] = (
    ("cs", _INT, 1, 0, _U53),
    ("url", _STR, 1, 8, 200),  # base URL: manifest at URL/m/DIGEST, files at URL/f/SHA256
    ("man", _STR, 1, 64, 64),  # the manifest's SHA-256, hex
    ("sig", _STR, 1, 64, 64),  # HMAC-SHA256 of the manifest with the studio key, hex
    ("ver", _STR, 1, 1, 16),
)
messages.KINDS["rollback"] = (("cs", _INT, 1, 0, _U53),)
# the host saw the podium's trial release connected, say hello and its clock trusted
messages.KINDS["fwgood"] = (("cs", _INT, 1, 0, _U53), ("man", _STR, 1, 64, 64))
messages.KINDS["fwst"] = (
    ("id", _ID, 1, 0, 0),
    ("b", _INT, 1, 0, _U31),
    ("step", _ENUM, 1, STEPS, 0),
    ("pct", _INT, 0, 0, 100),
    ("ver", _STR, 0, 1, 16),
    ("rel", _STR, 0, 16, 16),  # the release the step is about: its manifest digest's first 16
    ("err", _ENUM, 0, ERRORS, 0),
    ("got", _INT, 0, 0, _U53),  # bytes fetched over HTTP for this update so far
)
