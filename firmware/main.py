# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
# relboot picks the release to run (docs/firmware.md) and is dropped until it is needed again.
import sys

import relboot

rel = relboot.pick(sys.argv[1] if len(sys.argv) > 1 else "podium.json")
del sys.modules["relboot"], relboot
import gc  # noqa: E402

gc.collect()  # one hole, not many, before the app's lifelong buffers (podium/__init__.py)
try:
    from podium.app import main

    again = main(rel["path"], rel)
except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
    sys.path.append(rel["lib"])
    again = __import__("relboot").failed(rel, e)
if again:
    sys.path.append(rel["lib"])
    __import__("relboot").restart()
