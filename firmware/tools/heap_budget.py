"""Measure the podium's heap budget on the MicroPython unix port (a script, not a test).

    .venv/bin/python firmware/tools/heap_budget.py [--heap 96k] [--markdown]

Three measurements, each on the .mpy tree `buzzline flash` builds (unix profile):
- **import**: a fresh interpreter imports the firmware's modules in the order the podium loads
  them, collecting before and after each; the cost is the drop in gc.mem_free(), and the part of
  it that is interned names (micropython.qstr_info()) is shown apart. Modules loaded for one job
  (start-up, the harness's text commands, the selftest, a firmware update) are measured the
  same way, after the resident ones.
- **objects**: what the start-up builds (the board, settings, lights, button, link, the
  Podium's own state), measured by building each in a fresh interpreter.
- **at arm**: a real podium against a private Mosquitto, armed (as the benchmark does, no
  text command before it); `mem?` gives gc.mem_free() after the collection at arm.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from buzzline.io.broker import MosquittoBroker
from unixpodium import HEAP, Bus, UnixPodium, build_tree, find_micropython

# (module, what it is) in the order the podium loads them; asyncio.event is loaded on first use
# of asyncio.Event/ThreadSafeFlag, like the app does while it builds itself.
RESIDENT = (
    ("asyncio", "asyncio (frozen in the port: its objects only)"),
    ("buzzline_protocol", "protocol package"),
    ("buzzline_protocol.messages", "kinds, validation, decode"),
    ("podium", "package: 1.3 KB of buffers for life, 6 KB held until start-up"),
    ("podium.clock", "podium time"),
    ("podium.wire", "upstream encoders"),
    ("podium.button", "button capture"),
    ("podium.lights", "light patterns"),
    ("podium.mqtt", "the MQTT link"),
    ("podium.board", "hardware layer package"),
    ("podium.board.unix", "unix board: fakes, harness fast path"),
    ("podium.app", "the Podium"),
)
ONE_JOB = (
    ("podium.startup", "start-up (dropped after it)"),
    ("podium.config", "settings: loading, a config message (dropped after each)"),
    ("buzzline_protocol.topics", "topic names (start-up, dropped)"),
    ("podium.mqtt_open", "opening a session (each connect, dropped)"),
    ("podium.board.unix_harness", "harness text commands (first use)"),
    ("podium.selftest", "capture selftest (its run)"),
    ("podium.fwreq", "a firmware command queued for update mode (each, dropped)"),
    ("podium.update", "update mode (issue 21: its own boot, never beside the app)"),
)

_IMPORTS = """
import gc, sys, micropython
def free():
    gc.collect()
    return gc.mem_free()
print("START", free())
for name in sys.argv[1].split(","):
    print("QSTR", name)
    micropython.qstr_info()
    f0 = free()
    try:
        __import__(name)
        if name == "asyncio":
            import asyncio
            asyncio.Event, asyncio.ThreadSafeFlag
    except ImportError:
        print("MISSING", name)
        continue
    except MemoryError:
        print("NOFIT", name)
        continue
    f1 = free()
    print("COST", name, f0 - f1)
    micropython.qstr_info()
"""

_OBJECTS = """
import gc, asyncio
def used():
    gc.collect()
    return gc.mem_alloc()
import podium
from podium.app import Podium
from podium import startup
from podium.board.unix import FakePin, UnixBoard
from podium.button import Button
from podium import config
from podium.lights import Lights
from podium.wire import UpWriter
asyncio.Event, asyncio.ThreadSafeFlag
startup.make_room()
local = {"board": "unix", "id": "p1", "host": "127.0.0.1", "port": 1, "studio": "s1",
         "harness_port": 1, "state_dir": STATE}
def nop(*a):
    pass
keep = []
def measure(name, make):
    a = used()
    keep.append(make())
    print("OBJ", name, used() - a)
topic = "buzzline/s1/podium/p1/"
measure("board", lambda: UnixBoard(local))
measure("settings", lambda: config.load(STATE, "p1"))
measure("lights", lambda: Lights(keep[0].light, "ffffff", 64))
measure("button", lambda: Button(FakePin(1), nop, nop))
measure("wire", lambda: UpWriter("p1", 123456789, startup.hello_tail("unix-port", "unix", "0.1.0", None)))
measure("mqtt", lambda: startup.link(local, "bz-p1",
        (topic + "presence", startup.presence("p1", 123456789, "offline"), 1, True), None,
        ((topic + "cmd", 1), ("buzzline/s1/podium/all/cmd", 1), (topic + "syncr", 0), (topic + "config", 1)),
        nop))
"""

# The Podium as main() builds it, the parts above included (start-up code loaded before the
# first count, the topic names dropped after, as main() does).
_PODIUM = """
import gc, asyncio, podium
from podium import startup
from podium.app import Podium
from podium.board import unix
asyncio.Event, asyncio.ThreadSafeFlag
startup.make_room()
gc.collect()
a = gc.mem_alloc()
p = Podium({"board": "unix", "id": "p1", "host": "127.0.0.1", "port": 1, "studio": "s1",
            "harness_port": 1, "state_dir": STATE})
podium.drop("buzzline_protocol.topics")
gc.collect()
print("OBJ the Podium, all of it", gc.mem_alloc() - a)
"""


def _run(script: str, tree: Path, heap: str, *argv: str) -> list[str]:
    path = tree / "measure.py"
    path.write_text(script)
    env = dict(os.environ, MICROPYPATH=".frozen:" + str(tree / "lib"))
    r = subprocess.run(
        [find_micropython(), "-X", f"heapsize={heap}", str(path), *argv],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    if r.returncode != 0:
        raise RuntimeError(f"micropython failed: {r.stdout[-1500:]}{r.stderr[-1500:]}")
    return r.stdout.splitlines()


def _qstr(line: str) -> tuple[int, int]:
    """(names, bytes of the name pools) from a qstr_info() line."""
    m = re.search(r"n_qstr=(\d+).*n_total_bytes=(\d+)", line)
    return (int(m.group(1)), int(m.group(2))) if m else (0, 0)


def _costs(tree: Path, heap: str, names: list[str]) -> tuple[int, dict[str, tuple[int, int]]]:
    lines = _run(_IMPORTS, tree, heap, ",".join(names))
    start = int(next(line.split()[1] for line in lines if line.startswith("START")))
    costs: dict[str, tuple[int, int]] = {}
    before = 0
    for i, line in enumerate(lines):
        if line.startswith("QSTR"):
            before = _qstr(lines[i + 1])[0]
        elif line.startswith("COST"):
            _, name, n = line.split()
            costs[name] = (int(n), _qstr(lines[i + 1])[0] - before)
        elif line.startswith("NOFIT"):
            costs[line.split()[1]] = (-1, 0)  # not enough heap left to load it
    pools = _qstr(lines[-1])[1]
    costs["(name pools)"] = (pools, 0)
    return start, costs


def import_costs(tree: Path, heap: str) -> dict[str, Any]:
    """The resident modules in one interpreter; each one-job module in its own, on top of them
    (as the podium loads it: alone, with everything resident already there)."""
    resident = [m for m, _ in RESIDENT]
    start, costs = _costs(tree, heap, resident)
    for m, _ in ONE_JOB:
        extra = ["podium.startup", m] if m == "buzzline_protocol.topics" else [m]
        _, more = _costs(tree, heap, resident + extra)
        if m in more:
            costs[m] = more[m]
    return {"heap_free_at_start": start, "costs": costs}


def object_costs(tree: Path, heap: str, state: Path) -> dict[str, int]:
    lines = _run(_OBJECTS.replace("STATE", repr(str(state))), tree, heap)
    lines += _run(_PODIUM.replace("STATE", repr(str(state))), tree, heap)
    return {
        ln.split(" ", 1)[1].rsplit(" ", 1)[0]: int(ln.rsplit(" ", 1)[1])
        for ln in lines
        if ln.startswith("OBJ")
    }


def at_arm(tree: Path, heap: str, work: Path, questions: int = 3) -> dict[str, int]:
    with MosquittoBroker(workdir=work / "broker") as broker:
        bus = Bus(broker.port, host_studio="hb").connect()
        pod = UnixPodium(tree, work / "p1", broker.port, pid="p1", studio="hb", heap=heap).start()
        try:
            bus.wait_for(lambda t, m: m["t"] == "hello", what="hello")
            time.sleep(1.0)  # past the first sync burst
            allc = "buzzline/hb/podium/all/cmd"
            for q in range(1, questions + 1):
                bus.publish(allc, {"t": "arm", "cs": 2 * q, "ep": q})
                pod.wait(lambda: pod.light() == "armed", what="armed")
                pod.cmd("press")
                time.sleep(0.05)
                pod.cmd("release")
                bus.publish(allc, {"t": "lock", "cs": 2 * q + 1, "ep": q})
                bus.wait_for(lambda t, m, q=q: m["t"] == "ack" and m["ep"] == q, what="ack")
            return {k: int(v) for k, v in (w.split("=") for w in pod.cmd("mem?").split())}
        finally:
            pod.stop()
            bus.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--heap", default=HEAP)
    ap.add_argument("--markdown", action="store_true", help="print the tables for docs/firmware.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="buzzline-heap-") as tmp:
        work = Path(tmp)
        tree = build_tree(work / "fw")
        imp = import_costs(tree, args.heap)
        objs = object_costs(tree, args.heap, work)
        arm = at_arm(tree, args.heap, work)
    costs = imp["costs"]
    resident = sum(costs[m][0] for m, _ in RESIDENT if m in costs)
    out = {"heap": args.heap, "imports": costs, "objects": objs, "at_arm": arm, "resident_imports": resident}
    if not args.markdown:
        print(json.dumps(out, indent=1))
        return 0
    kb = lambda n: f"{n / 1024:.1f}"  # noqa: E731
    print(f"heap {args.heap}: {kb(imp['heap_free_at_start'])} KB free at start")
    print("\n| module | role | import KB | new names | at arm |")
    print("|---|---|---|---|---|")
    for group, resident_at_arm in ((RESIDENT, "resident"), (ONE_JOB, "not loaded")):
        for m, role in group:
            if m in costs:
                n, q = costs[m]
                size = kb(n) if n >= 0 else "does not fit"
                print(f"| `{m}` | {role} | {size} | {q} | {resident_at_arm} |")
    print(f"| all resident modules | | **{kb(resident)}** | | |")
    print(f"\nof which the name pools (interned names, never freed): {kb(costs['(name pools)'][0])} KB")
    print("\n| built at start-up | KB |")
    print("|---|---|")
    for name, n in objs.items():
        print(f"| {name} | {kb(n)} |")
    print(f"\nfree at arm: {kb(arm['arm_free'])} KB (mem? {arm})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
