# A firmware command in the running podium (SPEC 3.10): not acted on here. The update code and
# its buffers do not fit beside the app on a 96 KB heap, and neither does a module with many new
# names loaded late (each name is interned for good, and a full name pool asks for its next one,
# about 7 KB in one block here). So the command is queued in fw/req and the podium restarts in
# update mode (firmware/relboot.py runs podium.update.main), which decides and reports.
# Loaded by Podium.job for one message and dropped after it: a few lines, few new names.
import json
import os

_REQ = "fw/req"


def _restart() -> None:
    # podium.app.main calls it once the podium has stopped (presence offline, DISCONNECT)
    try:
        import machine

        machine.reset()
    except (ImportError, AttributeError):
        import sys

        sys.exit(3)  # the unix port: its supervisor starts it again


def start(app, payload) -> None:
    from podium import drop

    drop("podium.fwreq")  # what runs on (the restart) holds what it needs
    rel = app.local["rel"]
    if app.armed:  # never during a question (the host does not send one then)
        print("update: command ignored while armed")
        return
    try:
        with open(_REQ) as f:
            req = json.load(f)
    except (OSError, ValueError):
        req = None
    if req is None or req["b"] != app.boot:  # one left by a power cut is not this boot's
        req = {"b": app.boot, "cmds": []}
    req["cmds"].append(payload.decode())  # a second one while restarting: refused there (busy)
    try:
        os.mkdir("fw")
    except OSError:
        pass
    try:
        os.stat("fw/cur")
    except OSError:  # the flashed release, named: main.py boots through relboot from now on
        with open("fw/cur", "w") as f:
            f.write('{"cur":"","ver":"","good":1}')
    with open(_REQ + ".tmp", "w") as f:
        json.dump(req, f)
    os.rename(_REQ + ".tmp", _REQ)
    if "reboot" in rel:
        return
    rel["reboot"] = _restart
    print("update: restarting in update mode")
    import asyncio

    async def later() -> None:
        await asyncio.sleep_ms(200)  # a second command sent with it is queued too
        app.stop()

    asyncio.create_task(later())  # noqa: RUF006  (the scheduler holds it)
