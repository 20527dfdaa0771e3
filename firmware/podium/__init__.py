# Buzzline podium firmware: the application package (runs on MicroPython boards and the unix port).
FW_VERSION = "0.1.0"

# Loading the application's modules leaves the heap in small pieces (bytecode interleaved with
# freed loader buffers): on a 96 KB heap no 600-byte hole is left after them, even right after a
# collection. So the buffers the link and the harness keep for life are allocated here, first,
# and a block is held back that podium.startup.make_room() frees for the objects built at
# start-up (podium.startup.early_buffer hands the buffers out).
_EARLY = [bytearray(640), bytearray(384), bytearray(128), bytearray(64), bytearray(64), bytearray(64)]
_room: bytearray | None = bytearray(6144)


def drop(name: str) -> None:
    """Forget a module loaded for one job (podium.startup, podium.selftest, the topic builders):
    with it out of sys.modules and off its package, its code leaves the heap at the next
    collection (its names stay interned)."""
    import sys

    sys.modules.pop(name, None)
    pkg, _, leaf = name.rpartition(".")
    parent = sys.modules.get(pkg)
    if parent is not None and hasattr(parent, leaf):
        delattr(parent, leaf)
