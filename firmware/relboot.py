# Boot with a release (main.py loads this from the flashed /lib only when fw/cur exists):
# fw/cur, written by podium.update, names it; a release not yet marked good gets
# BOOT_TRIES boots, then the previous one runs again. Never part of a release, so a bad
# release cannot break it.
import sys

BOOT_TRIES = 3
FW = "fw/"  # in the working folder: a board's root; the unix port runs in the podium's folder


def _save(path: str, obj) -> None:
    import json
    import os

    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)  # one rename: a power cut leaves the old file or the new


def fall_back(fw: str, p: dict, err: str) -> None:
    # The previous release again ("" = the flashed one), remembering which one failed and why.
    import os

    back = {"cur": p["prev"], "ver": p.get("pver", ""), "man": p.get("pman", ""), "prev": "", "good": 1}
    back["bad"] = p["cur"]
    back["bver"] = p["ver"]
    back["err"] = err
    _save(fw + "cur", back)
    try:
        os.remove(fw + "boots")
    except OSError:
        pass


def _pick(fw: str) -> dict:
    import json
    import os

    try:
        with open(fw + "cur") as f:
            p = json.load(f)
    except (OSError, ValueError):
        return {"cur": "", "ver": "", "good": 1}  # never updated: the flashed release
    if not p["good"]:
        try:
            with open(fw + "boots") as f:
                n = int(f.read())
        except (OSError, ValueError):
            n = 0
        if n >= BOOT_TRIES:
            print("boot: release", p["cur"], "failed", n, "boots: back to the previous one")
            fall_back(fw, p, "boot")
            return _pick(fw)
        with open(fw + "boots.tmp", "w") as f:
            f.write(str(n + 1))
        os.rename(fw + "boots.tmp", fw + "boots")
    return p


def pick() -> dict:
    """The release for this boot; puts its lib folder in the flashed tree's place on sys.path."""
    fw = FW
    p = _pick(fw)
    p["fw"] = fw
    for i in range(len(sys.path)):
        if sys.path[i].endswith("lib"):  # the flashed tree: /lib on a board, MICROPYPATH here
            p["lib"] = sys.path[i]
            if p["cur"]:
                sys.path[i] = fw + "r/" + p["cur"] + "/lib"
            break
    return p


def failed(p: dict, e: Exception) -> bool:
    """The app raised: a release on trial falls back at once (True: start again)."""
    if p["good"]:
        raise e
    print("boot: release", p["cur"], "raised", repr(e))
    fall_back(p["fw"], p, "boot")
    return True


def restart() -> None:
    # the previous release is back in place: start again (podium.update.restart's twin)
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)


def run(path: str) -> None:
    """Start the podium on the release fw/cur names; start again when it asks."""
    rel = pick()
    if rel["cur"]:
        # main.py loaded the flashed podium package for its buffers: the release's comes instead
        for name in list(sys.modules):
            if name == "podium" or name.startswith("podium."):
                del sys.modules[name]
    import gc

    gc.collect()  # the pick's leftovers and the flashed buffers go before the release's come
    try:
        from podium.app import main

        main(path, rel)  # podium.update restarts the podium itself after a switch
    except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
        failed(rel, e)
        restart()
