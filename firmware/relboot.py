# The release to boot (loaded by main.py from the flashed /lib, then dropped): fw/cur, written
# by podium.update, names it; a release not yet marked good gets
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
    # a new release is in place: a board resets; the unix port exits with 3 and its
    # supervisor (firmware/tools/unixpodium.py, or a shell loop) starts it again
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)
