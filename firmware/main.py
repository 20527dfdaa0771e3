# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
# With a release pointer (fw/cur in the working folder: a board's root) relboot picks the
# release to run (docs/firmware.md) and is dropped again; without one nothing is loaded for it
# (the start-up heap is tight: not even a path is built).
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "podium.json"
rel = None
try:
    open("fw/cur").close()
    import relboot

    rel = relboot.pick()
    del sys.modules["relboot"], relboot
    import gc

    gc.collect()  # what the pick left is freed before the app's lifelong buffers
except OSError:
    pass  # never updated: the flashed release
try:
    from podium.app import main

    again = main(path, rel)
except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
    if rel is None:
        raise
    sys.path.append(rel["lib"])
    again = __import__("relboot").failed(rel, e)
if again:
    if rel:
        sys.path.append(rel["lib"])  # the flashed tree, where relboot is
    __import__("relboot").restart()
