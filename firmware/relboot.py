# Boot with a release (main.py loads this from the flashed /lib only when fw/cur exists):
# fw/cur, written by podium.update (update mode), names it; a release not yet marked good
# gets BOOT_TRIES boots, then the previous one runs again. fw/req, written by podium.fwreq, asks
# for one boot in update mode (podium.update.main: the link and the updater, not the app).
# Never part of a release, so a bad release cannot break it; what it offers releases (save,
# pointer, restart) stays as it is.
import sys

BOOT_TRIES = 3
FW = "fw/"  # in the working folder: a board's root; the unix port runs in the podium's folder


def save(path: str, obj) -> None:
    import json
    import os

    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)  # one rename: a power cut leaves the old file or the new


def pointer(fw: str) -> dict:
    """What fw/cur says: the release to run ("" = the flashed one)."""
    import json

    try:
        with open(fw + "cur") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"cur": "", "ver": "", "good": 1}  # never updated: the flashed release


def fall_back(fw: str, p: dict, err: str) -> None:
    # The previous release again ("" = the flashed one), remembering which one failed and why.
    import os

    back = {"cur": p["prev"], "ver": p.get("pver", ""), "man": p.get("pman", ""), "prev": "", "good": 1}
    back["bad"] = p["cur"]
    back["bver"] = p["ver"]
    back["err"] = err
    save(fw + "cur", back)
    try:
        os.remove(fw + "boots")
    except OSError:
        pass


def _pick(fw: str, count: bool) -> dict:
    p = pointer(fw)
    if not p["good"] and count:  # an update-mode boot is not one of the release's tries
        try:
            with open(fw + "boots") as f:
                n = int(f.read())
        except (OSError, ValueError):
            n = 0
        if n >= BOOT_TRIES:
            print("boot: release", p["cur"], "failed", n, "boots: back to the previous one")
            fall_back(fw, p, "boot")
            return _pick(fw, count)
        import os

        with open(fw + "boots.tmp", "w") as f:
            f.write(str(n + 1))
        os.rename(fw + "boots.tmp", fw + "boots")
    return p


def pick(count: bool = True) -> dict:
    """The release for this boot; puts its lib folder in the flashed tree's place on sys.path."""
    fw = FW
    p = _pick(fw, count)
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
    """Start again: a board resets; the unix port exits with status 3 and its supervisor
    (firmware/tools/unixpodium.py, or the shell loop in docs/firmware.md) starts it again."""
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        sys.exit(3)


def run(path: str) -> None:
    """Start the podium on the release fw/cur names, or the updater when fw/req asks for it;
    start again when either asks."""
    try:
        open(FW + "req").close()
        update = True
    except OSError:
        update = False
    rel = pick(not update)
    # main.py loaded the flashed podium package for its buffers, before this module: the
    # release's (or the flashed one again) comes instead, at the bottom of the heap again
    for name in list(sys.modules):
        if name == "podium" or name.startswith("podium."):
            del sys.modules[name]
    import gc

    gc.collect()  # the pick's leftovers and the flashed buffers go before the release's come
    if update:
        try:
            from podium.update import main

            main(path, rel)  # the running release's updater: it removes fw/req first
        except Exception as e:  # not SystemExit: that is a bad podium.json
            print("update: stopped", repr(e))
            import os

            try:
                os.remove(FW + "req")  # one update-mode boot per request, whatever happened
            except OSError:
                pass
        restart()
    try:
        from podium.app import main

        main(path, rel)  # podium.fwreq has it restart (update mode) after a command
    except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
        failed(rel, e)
        restart()
