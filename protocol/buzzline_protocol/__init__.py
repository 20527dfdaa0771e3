# Buzzline wire protocol v1: the contract between podiums and host.
# The kinds only hosts and viewers speak (state, event, reject) live in viewer.py, and those of
# firmware updates in fwupdate.py; each adds them to codec.KINDS when imported: a podium never
# loads the first (about 2 KB of its small heap) and the second only for an update, CPython
# always does (here, so that codec never imports them back), and the vector runner loads them
# under both interpreters.
import sys

if sys.implementation.name != "micropython":
    from buzzline_protocol import fwupdate, viewer  # noqa: F401
