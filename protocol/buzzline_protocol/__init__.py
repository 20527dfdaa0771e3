# Buzzline wire protocol v1: the contract between podiums and host.
# The kinds only hosts and viewers speak (state, event, reject) live in viewer.py, which adds
# them to codec.KINDS when imported: a podium never loads them (about 2 KB of its small heap),
# CPython always does (here, so that codec never imports viewer back), and the vector runner
# loads them under both interpreters.
import sys

if sys.implementation.name != "micropython":
    from buzzline_protocol import viewer  # noqa: F401
