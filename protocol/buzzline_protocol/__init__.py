# Buzzline wire protocol v1: the contract between podiums and host.
# codec.py holds the kinds both ends need; three modules add theirs to codec.KINDS when imported:
# upstream.py what podiums send (hello, hb, buzz, ack, fault, sync: a podium writes them with
# podium/wire.py, about 4 KB it does not carry), viewer.py what only hosts and viewers speak
# (state, event, reject: about 2 KB) and fwupdate.py the firmware updates' (a podium loads it
# with its update code only). CPython always loads all three (here, so that codec never imports
# them back), and the vector runner loads them under both interpreters.
import sys

if sys.implementation.name != "micropython":
    from buzzline_protocol import fwupdate, upstream, viewer  # noqa: F401
