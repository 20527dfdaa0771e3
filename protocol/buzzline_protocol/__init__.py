# Buzzline wire protocol v1: the contract between podiums and host.
# codec.py holds the kinds both ends need; two modules add theirs to codec.KINDS when imported:
# upstream.py what podiums send (hello, hb, buzz, ack, fault, sync: a podium writes them with
# podium/wire.py, about 4 KB it does not carry) and viewer.py what only hosts and viewers speak
# (state, event, reject: about 2 KB). A podium never loads either; CPython always does (here, so
# that codec never imports them back), and the vector runner loads them under both interpreters.
import sys

if sys.implementation.name != "micropython":
    from buzzline_protocol import upstream, viewer  # noqa: F401
