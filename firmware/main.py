# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
# relboot picks the release (docs/firmware.md); a new release that raises falls back at once.
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "podium.json"
import relboot  # noqa: E402

rel = relboot.pick(path)
del sys.modules["relboot"], relboot  # its bytecode is not kept: the heap is small
import gc  # noqa: E402

gc.collect()  # one hole, not many, before the app's lifelong buffers (podium/__init__.py)
try:
    from podium.app import main

    again = main(path, rel)
except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
    if rel["good"]:
        raise
    print("boot: release", rel["cur"], "raised", repr(e))
    sys.path[sys.path.index(rel["fw"] + "r/" + rel["cur"] + "/lib")] = rel["lib"]
    import relboot

    relboot.fall_back(rel["fw"], rel, "boot")
    again = True
if again:  # a new release is in place: start again (the unix port: its supervisor does)
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)
