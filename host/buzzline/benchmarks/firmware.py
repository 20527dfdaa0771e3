"""`buzzline bench firmware`: press-to-lock with real firmware podiums (MicroPython unix port).

Processes: Mosquitto running the config `buzzline broker config` writes (passwords, ACL,
``set_tcp_nodelay``), the host (`_host_proc`: the real ``HostService`` with its event log, on the
host account), and N podiums: the real firmware under ``micropython -X heapsize=96k``, each on
its own podium account. Per press, from the press edge the presser's IRQ stamped (the harness
``press`` drives the fake pin): ``press_to_lock_ms`` until the last podium has handled the lock,
``press_to_winner_light_ms`` until the presser has set its winner light; the podiums stamp
these with ``ticks_us`` (CLOCK_MONOTONIC on the unix port) and the harness reports them
(``times?``), so polling adds nothing. A subscriber on the
host account stamps the buzz and the lock passing through the broker, for the breakdown:
``press_to_buzz`` (podium: capture, encode, send; broker hop), ``buzz_to_lock`` (broker to host,
the host's decision to lock, host to broker) and ``lock_to_locked`` (broker to the podiums, their
read loop, the harness poll). Heap figures come from each podium's ``mem?``/``heap?``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from buzzline.benchmarks._procs import LineProc
from buzzline.benchmarks._stats import p50_p99
from buzzline.hosttime import now_us

NAME = "firmware"
HELP = "press-to-lock and heap with real firmware podiums (micropython unix port, 96 KB heap)"
STUDIO = "fwbench"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=3)
    p.add_argument("--presses", type=int, default=100)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print one JSON object")


class _Stamps:
    """A paho subscriber (own thread) stamping buzzes and locks as the broker forwards them."""

    def __init__(self, port: int, user: str, password: str) -> None:
        import paho.mqtt.client as mqtt
        from buzzline_protocol import codec
        from paho.mqtt.enums import CallbackAPIVersion

        self._codec = codec
        self.buzz: list[int] = []
        self.lock: dict[int, int] = {}
        self._ready = threading.Event()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-stamps")
        c.username_pw_set(user, password)
        c.on_connect = lambda cl, *a: cl.subscribe([(f"buzzline/{STUDIO}/podium/+/up", 1),
                                                    (f"buzzline/{STUDIO}/podium/all/cmd", 1)])  # fmt: skip
        c.on_subscribe = lambda *a: self._ready.set()
        c.on_message = self._on_message
        self.client = c
        c.connect("127.0.0.1", port, keepalive=30)
        c.loop_start()
        if not self._ready.wait(10):
            raise RuntimeError("stamp subscriber not ready")

    def _on_message(self, client: Any, userdata: Any, m: Any) -> None:
        t = now_us()
        try:
            msg = self._codec.decode(m.payload)
        except self._codec.ProtocolError:
            return
        if msg["t"] == "buzz":
            self.buzz.append(t)
        elif msg["t"] == "lock":
            self.lock.setdefault(msg["ep"], t)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


_WRAP = 1 << 30  # the unix port's ticks_us is CLOCK_MONOTONIC µs; differences taken modulo this


def _since(t: int, t0: int) -> int:
    return (t - t0) % _WRAP


def _press(pods: list[Any], presser: int, timeout: float = 3.0) -> tuple[int, list[int], int] | None:
    """Press on one podium; wait until every podium handled the lock and the presser set its
    winner light. Returns (press edge, lock times, winner time), all ticks_us stamped by the
    podiums themselves (so polling the harness adds nothing to the figures), or None."""
    before = [int(p.cmd("times?").split()[1]) for p in pods]
    t_cmd = now_us()
    pods[presser].cmd("press")
    deadline = time.monotonic() + timeout
    result = None
    while time.monotonic() < deadline:
        times = [[int(x) for x in p.cmd("times?").split()] for p in pods]
        t0 = times[presser][0]
        if _since(t0, t_cmd % _WRAP) > 10_000_000:
            continue  # the press edge not stamped yet
        locks = [t[1] for t in times]
        if all(lk != b and _since(lk, t0) < 10_000_000 for lk, b in zip(locks, before, strict=True)):
            won = times[presser][2]
            if _since(won, t0) < 10_000_000 and won != t0:
                result = (t0, locks, won)
                break
        time.sleep(0.002)
    pods[presser].cmd("release")
    return result


async def _wait_lights(pods: list[Any], pattern: str, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if all(p.light() == pattern for p in pods):
            return True
        await asyncio.sleep(0.005)
    return False


def _mem(p: Any) -> dict[str, int]:
    return {k: int(v) for k, v in (w.split("=") for w in p.cmd("mem?").split())}


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from buzzline.commands.flash import ROOT
    from buzzline.io.broker import ConfiguredMosquitto, free_port
    from buzzline.io.security import CONF_FILE, load_credentials, write_broker_config

    sys.path.insert(0, str(ROOT / "firmware" / "tools"))
    from unixpodium import UnixPodium, build_tree  # type: ignore[import-not-found]

    pids = [f"p{i + 1}" for i in range(args.podiums)]
    port = free_port()
    write_broker_config(tmp / "broker", STUDIO, pids, port=port, bind="127.0.0.1")
    sec = load_credentials(tmp / "broker")
    rng = random.Random(args.seed)
    tree = build_tree(tmp / "fw")
    with ConfiguredMosquitto(tmp / "broker" / CONF_FILE, port=port, workdir=tmp / "run"):
        stamps = _Stamps(port, sec.host.username, sec.host.password)
        host = LineProc("host")
        pods: list[Any] = []
        try:
            await host.start(
                "buzzline.benchmarks._host_proc",
                ["--host", "127.0.0.1", "--port", str(port), "--studio", STUDIO,
                 "--log", str(tmp / "show.db"), "--user", sec.host.username, "--password", sec.host.password],
            )  # fmt: skip
            for pid in pids:
                cred = sec.podiums[pid]
                extra = {"user": cred.username, "secret": cred.password}
                pod = UnixPodium(tree, tmp / pid, port, pid=pid, studio=STUDIO, extra=extra)
                pods.append(await asyncio.to_thread(pod.start))
            async with asyncio.timeout(60):  # every podium online with a trusted clock
                while not (await host.ask(f"ready {len(pids)}")).startswith("ok"):
                    await asyncio.sleep(0.1)
            lock_ms: list[float] = []
            won_ms: list[float] = []
            press_to_buzz: list[float] = []
            buzz_to_lock: list[float] = []
            lock_to_locked: list[float] = []
            lost = 0
            last_press = [0.0] * len(pods)
            for _ in range(args.presses):
                await host.ask("cmd read")
                await host.ask("cmd arm")
                if not await _wait_lights(pods, "armed"):
                    lost += 1
                    continue
                epochs = set(stamps.lock)
                await asyncio.sleep(rng.uniform(0.005, 0.03))
                presser = rng.randrange(len(pods))
                # A person's pace: a podium seeing 16 edges within a second reports chatter and
                # stops turning them into buzzes (docs/firmware.md), so 300 ms between its presses.
                wait = last_press[presser] + 0.3 - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                last_press[presser] = time.monotonic()
                nbuzz = len(stamps.buzz)
                got = await asyncio.to_thread(_press, pods, presser)
                if got is None:
                    lost += 1
                else:
                    t0, locks, won = got
                    last = max(_since(lk, t0) for lk in locks)
                    lock_ms.append(last / 1000)
                    won_ms.append(_since(won, t0) / 1000)
                    new = [e for e in stamps.lock if e not in epochs]
                    if len(stamps.buzz) > nbuzz and new:
                        tb = _since(stamps.buzz[nbuzz] % _WRAP, t0)
                        tl = _since(stamps.lock[new[0]] % _WRAP, t0)
                        press_to_buzz.append(tb / 1000)
                        buzz_to_lock.append((tl - tb) / 1000)
                        lock_to_locked.append((last - tl) / 1000)
                await host.ask('cmd judge {"correct": true}')
                await host.ask("cmd next")
            mems = [await asyncio.to_thread(_mem, p) for p in pods]
            heaps = [await asyncio.to_thread(p.cmd, "heap?") for p in pods]
            report = json.loads((await host.ask("report")).split(" ", 1)[1])
            for p, m in zip(pods, mems, strict=True):
                if m["memerr"]:
                    site = m.get("memsite", 0)  # where the last was caught (podium/mqtt.py mem_site)
                    why = f"{m['memerr']} MemoryErrors (last at site {site})"
                    print(f"{p.pid}: {why}; log: {p.lines[-8:]}", file=sys.stderr)
        finally:
            for p in pods:
                await asyncio.to_thread(p.stop)
            await host.stop()
            stamps.close()
    host_us = [r["sock"] - r["read"] for r in report["locks"] if "sock" in r and "read" in r]
    return {
        "podiums": args.podiums,
        "presses": args.presses,
        "lost": lost,
        "press_to_lock_ms": p50_p99(lock_ms),
        "press_to_winner_light_ms": p50_p99(won_ms),
        "heap_peak_kb": round(max(int(h.split()[0]) for h in heaps) / 1024, 1),
        "heap_free_at_arm_kb": round(min(m["arm_free_min"] for m in mems) / 1024, 1),
        "memory_errors": sum(m["memerr"] for m in mems),
        "gc_forced_while_armed": sum(m["forced"] for m in mems),
        # a message that met a spent heap while armed: collected once, then handled
        "collections_for_a_message_while_armed": sum(m.get("collects", 0) for m in mems),
        "largest_alloc_between_polls_b": max(m["poll_max"] for m in mems),
        "breakdown_ms": {
            "press_to_buzz": p50_p99(press_to_buzz),
            "buzz_to_lock": p50_p99(buzz_to_lock),
            "lock_to_locked": p50_p99(lock_to_locked),
            "host_read_to_lock_sent": p50_p99([u / 1000 for u in host_us]),
        },
    }


def run(args: argparse.Namespace) -> int:
    if args.podiums < 1 or args.presses < 1:
        print("buzzline bench firmware: --podiums and --presses must be at least 1", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="buzzline-fwbench-") as tmp:
        out = asyncio.run(measure(args, Path(tmp)))
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k}: {v}")
    return 0
