# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
# It also picks the release to run: fw/cur (next to podium.json, written by podium.update)
# names it; a release not yet marked good gets BOOT_TRIES boots, then the previous one runs.
# Not part of any release, so a bad release cannot break it; kept small (compiled at boot).
import sys

BOOT_TRIES = 3
EXIT_REBOOT = 3  # the unix port has no reset: its supervisor starts it again on this status


def _save(path, obj):
    import json
    import os

    with open(path + ".tmp", "w") as f:
        json.dump(obj, f)
    os.rename(path + ".tmp", path)  # one rename: a power cut leaves the old file or the new


def fall_back(fw, p, err):
    # The previous release again ("" = the flashed one), remembering which one failed and why.
    import os

    _save(
        fw + "cur",
        {
            "cur": p["prev"],
            "ver": p.get("pver", ""),
            "prev": "",
            "good": 1,
            "bad": p["cur"],
            "bver": p["ver"],
            "err": err,
        },
    )
    try:
        os.remove(fw + "boots")
    except OSError:
        pass


def pick(fw):
    import json

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
            return pick(fw)
        with open(fw + "boots.tmp", "w") as f:
            f.write(str(n + 1))
        import os

        os.rename(fw + "boots.tmp", fw + "boots")
    return p


def boot(path):
    fw = path[: path.rfind("/") + 1] + "fw/"
    p = pick(fw)
    p["fw"] = fw
    for i in range(len(sys.path)):
        if sys.path[i].endswith("lib"):  # the flashed tree: /lib on a board, MICROPYPATH here
            p["lib"] = sys.path[i]
            if p["cur"]:
                sys.path[i] = fw + "r/" + p["cur"] + "/lib"
            break
    try:
        from podium.app import main

        again = main(path, p)
    except Exception as e:  # not SystemExit: a bad podium.json is no fault of the release
        if p["good"]:
            raise
        print("boot: release", p["cur"], "raised", repr(e))
        fall_back(fw, p, "boot")
        again = True
    if again:
        try:
            import machine

            machine.reset()
        except (ImportError, AttributeError):
            sys.exit(EXIT_REBOOT)


boot(sys.argv[1] if len(sys.argv) > 1 else "podium.json")
