"""`buzzline bench ota`: firmware updates over the network to real firmware podiums.

Processes: Mosquitto running the config `buzzline broker config` writes (each podium on its own
account, so the ACL's fw/fwst lines are exercised), the host (``HostService`` with its release
server, in this process) and N podiums: the real firmware on the MicroPython unix port
(`firmware/tools/unixpodium.py`, which starts a podium again when it asks to restart).

1. every podium is updated from its flashed firmware to release A (one module changed), then
2. to release B (one module changed again): seconds from the push until the last podium is
   confirmed good, and the bytes each podium fetched for B against the changed module's size;
3. faults, one per podium: power cut (SIGKILL) during the download, during the switch and during
   the first boots (three: it falls back), a release that raises at import, a bad signature, a
   release for another board, a corrupted file, two updates at once. Each must end on a whole,
   working release: the podium says hello from the old or the new one and a press reaches the
   host. ``bricked`` counts those that do not (nor any other podium that stops working).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

NAME = "ota"
HELP = "firmware updates to real firmware podiums: time, bytes per podium, faults survived"
STUDIO = "otabench"
HEAP = "96k"  # a studio podium's budget: updates run in update mode (docs/firmware.md)
CHANGED = "podium/lights.py"  # the module each release changes
FAULTS = ("kill-download", "kill-switch", "kill-first-boots", "raises-at-import", "bad-signature",
          "other-board", "corrupt-file", "two-at-once")  # fmt: skip


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=8)
    p.add_argument("--json", action="store_true", help="print one JSON object")


def one_module_release(
    store: Any,
    key: bytes,
    flashed: Path,
    work: Path,
    board: str,
    version: str,
    extra: str,
    modules: tuple[str, ...] = (CHANGED,),
) -> str:
    """A release: the flashed tree's lib/ with podium/lights.py (or each of ``modules``)
    compiled again with ``extra`` appended, as `buzzline firmware release` compiles it."""
    from buzzline.commands.flash import ROOT, mpy_cross

    tree = work / f"rel-{board}-{version}"
    shutil.copytree(flashed / "lib", tree / "lib", ignore=shutil.ignore_patterns("relboot.*"))
    for module in modules:
        src = work / f"{module.replace('/', '-')}-{version}.py"
        src.write_text((ROOT / "firmware" / module).read_text() + "\n" + extra + "\n")
        dest = "lib/" + module[:-3] + ".mpy"
        # the name inside the .mpy as `buzzline flash` gives it (its path under /lib)
        subprocess.run([mpy_cross(), "-O3", "-s", module, "-o", str(tree / dest), str(src)], check=True)
    m, _ = store.add(tree, board, version, key)
    digest: str = m.digest
    return digest


async def _until(pred: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


async def measure(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    from buzzline.commands.flash import ROOT
    from buzzline.host_service import HostService
    from buzzline.io.broker import ConfiguredMosquitto, free_port
    from buzzline.io.security import CONF_FILE, load_credentials, write_broker_config
    from buzzline.ota.release import ReleaseStore, new_key
    from buzzline.web.releases import ReleaseServer

    sys.path.insert(0, str(ROOT / "firmware" / "tools"))
    from unixpodium import UnixPodium, build_tree  # type: ignore[import-not-found]

    pids = [f"p{i + 1}" for i in range(args.podiums)]
    port = free_port()
    write_broker_config(tmp / "broker", STUDIO, pids, port=port, bind="127.0.0.1")
    sec = load_credentials(tmp / "broker")
    key = bytes.fromhex(new_key())
    flashed = build_tree(tmp / "fw")
    store = ReleaseStore(tmp / "store")
    (tmp / "work").mkdir()

    def rel(version: str, extra: str, board: str = "unix") -> str:
        return one_module_release(store, key, flashed, tmp / "work", board, version, extra)

    a, b = rel("0.2.0", "OTA_MARK = 2"), rel("0.3.0", "OTA_MARK = 3")
    bad = rel("0.9.0", 'raise RuntimeError("a release that cannot start")')
    esp32 = rel("0.4.0", "OTA_MARK = 4", "esp32")
    corrupt = rel("0.5.0", "OTA_MARK = 5")
    sha = next(f.sha256 for f in store.manifest(corrupt).files if f.path == "lib/" + CHANGED[:-3] + ".mpy")
    damaged = bytearray(store.object_path(sha).read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    store.object_path(sha).write_bytes(bytes(damaged))
    module = next(f.size for f in store.manifest(b).files if f.path == "lib/" + CHANGED[:-3] + ".mpy")

    with ConfiguredMosquitto(tmp / "broker" / CONF_FILE, port=port, workdir=tmp / "run"):
        async with (
            HostService(
                "127.0.0.1", port, STUDIO, username=sec.host.username, password=sec.host.password
            ) as svc,
            ReleaseServer(store, "127.0.0.1", free_port()) as srv,
        ):
            svc.fleet.store, svc.fleet.url = store, srv.url
            fleet = svc.fleet.podiums
            pods: dict[str, Any] = {}
            try:
                for pid in pids:
                    cred = sec.podiums[pid]
                    extra = {"user": cred.username, "secret": cred.password, "fwkey": key.hex()}
                    pod = UnixPodium(flashed, tmp / pid, port, pid=pid, studio=STUDIO, extra=extra, heap=HEAP)
                    pods[pid] = await asyncio.to_thread(pod.start)
                if not await _until(lambda: all(p in fleet and fleet[p].board for p in pids), 60):
                    raise RuntimeError("not every podium said hello")

                async def push_all(digest: str) -> float:
                    t0 = time.monotonic()
                    svc.firmware("push", pids, digest)
                    ok = await _until(
                        lambda: all(fleet[p].step == "good" and fleet[p].rel == digest[:16] for p in pids),
                        180,
                    )
                    if not ok:
                        late = {p: (fleet[p].step, fleet[p].err) for p in pids if fleet[p].step != "good"}
                        tails = {p: pods[p].lines[-12:] for p in late}
                        raise RuntimeError(f"podiums not updated: {late}; their output: {tails}")
                    return time.monotonic() - t0

                seconds_a = await push_all(a)
                before = {p: srv.sent[p] for p in pids}
                seconds_b = await push_all(b)
                sent_b = {p: srv.sent[p] - before[p] for p in pids}
                updated = sum(1 for p in pids if fleet[p].rel == b[:16] and fleet[p].step == "good")
                for p in pods.values():
                    await asyncio.to_thread(p.connect_harness)
                faults = await _faults(
                    svc, pods, pids, {"bad": bad, "esp32": esp32, "corrupt": corrupt, "a": a, "b": b}
                )
                bricked = 0
                for pid, pod in pods.items():
                    if not await _works(svc, pod, pid):
                        bricked += 1
            finally:
                for pod in pods.values():
                    await asyncio.to_thread(pod.stop)
    return {
        "podiums": len(pids),
        "updated": updated,
        "bricked": bricked,
        "faults": faults,
        "faults_ok": sum(1 for f in faults.values() if f["ok"]),
        "seconds_flashed_to_a": round(seconds_a, 2),
        "seconds_one_module": round(seconds_b, 2),
        "module_bytes": module,
        "bytes_per_podium_one_module": {"max": max(sent_b.values()), "min": min(sent_b.values())},
        "bytes_ratio_max": round(max(sent_b.values()) / module, 3),
        "heap": HEAP,
    }


async def _works(svc: Any, pod: Any, pid: str) -> bool:
    """A whole release runs: the harness answers and a press reaches the host as a buzz."""
    try:
        await asyncio.to_thread(pod.connect_harness, 20)
        before = svc.ingest.accepted
        await asyncio.to_thread(pod.cmd, "press")
        await asyncio.to_thread(pod.cmd, "release")
        return await _until(lambda: svc.ingest.accepted > before, 10)
    except (RuntimeError, OSError, TimeoutError):
        return False


async def _faults(svc: Any, pods: dict[str, Any], pids: list[str], r: dict[str, str]) -> dict[str, Any]:
    """One fault per podium (as many as there are podiums); each must end on a whole release."""
    from buzzline_protocol import topics

    from buzzline.gate.bridge import Wire

    fleet = svc.fleet.podiums
    out: dict[str, Any] = {}
    # every error a podium reported (a refusal is followed at once by the first update's progress)
    errors: dict[str, list[str]] = {pid: [] for pid in pids}
    inbound = svc.fleet.inbound

    def seen(pid: str, leaf: str, msg: dict[str, Any], trusted: bool) -> Any:
        if leaf == "fwst" and msg.get("err"):
            errors[pid].append(msg["err"])
        return inbound(pid, leaf, msg, trusted)

    svc.fleet.inbound = seen
    for fault, pid in zip(FAULTS, pids, strict=False):
        pod = pods[pid]
        start_rel = fleet[pid].rel
        target = r["a"]
        if fault in ("kill-download", "kill-switch"):
            pod.config["ota_hold"] = "fetch" if fault == "kill-download" else "renamed"
            await asyncio.to_thread(pod.stop)
            await asyncio.to_thread(pod.start)
            boot = await asyncio.to_thread(pod.boot)
            await _until(lambda p=pid, b=boot: fleet[p].boot == b, 20)
            svc.firmware("push", [pid], target)
            word = "fetch" if fault == "kill-download" else "renamed"
            await _until(lambda p=pod, w=word: any(f"holding at {w}" in ln for ln in p.lines), 60)
            await asyncio.to_thread(pod.kill)
            pod.config.pop("ota_hold")
            await asyncio.to_thread(pod.start)
            # a restart mid-update: the operator pushes again, and what was staged is kept
            await _until(lambda p=pid: fleet[p].step == "interrupted", 20)
            svc.firmware("push", [pid], target)
        elif fault == "kill-first-boots":
            svc.firmware("push", [pid], target)
            svc.fleet.hold.add(pid)  # no confirmation: the power cuts come first
            for _ in range(3):
                seen = pod.boots
                await _until(lambda p=pid: fleet[p].step == "trial", 60)
                await _until(lambda p=pod, s=seen: p.boots > s, 30)
                await asyncio.sleep(0.5)
                await asyncio.to_thread(pod.kill)
                fleet[pid].step = ""
                await asyncio.to_thread(pod.start)
            svc.fleet.hold.discard(pid)
        elif fault == "raises-at-import":
            svc.firmware("push", [pid], r["bad"])
        elif fault == "corrupt-file":
            svc.firmware("push", [pid], r["corrupt"])
        elif fault == "two-at-once":
            svc.firmware("push", [pid], r["a"])  # and a second one straight after: refused, busy
            sig = svc.fleet.store.signature(r["b"])
            msg = {"t": "update", "cs": svc.bridge.next_cs(), "url": svc.fleet.url, "man": r["b"], "sig": sig}
            svc._send(Wire(topics.podium(svc.studio, pid, "fw"), {**msg, "ver": "0.3.0"}))
            await _until(lambda p=pid: "busy" in errors[p], 30)
            await _until(lambda p=pid: fleet[p].rel == r["a"][:16], 60)
        else:
            # past the host's own checks (it pushes only its board's releases, with their signature)
            digest = r["a"] if fault == "bad-signature" else r["esp32"]
            sig = "0" * 64 if fault == "bad-signature" else svc.fleet.store.signature(digest)
            ver = svc.fleet.store.manifest(digest).version
            msg = {"t": "update", "cs": svc.bridge.next_cs(), "url": svc.fleet.url, "man": digest, "sig": sig}
            svc._send(Wire(topics.podium(svc.studio, pid, "fw"), {**msg, "ver": ver}))
            fleet[pid].step = "fetch"
        await _until(lambda p=pid: fleet[p].step in ("good", "failed", "rolledback"), 60)
        await asyncio.sleep(0.5)
        works = await _works(svc, pod, pid)
        rel_now = fleet[pid].rel
        whole = rel_now in (start_rel, r["a"][:16], r["b"][:16], "")
        out[fault] = {"podium": pid, "step": fleet[pid].step, "err": fleet[pid].err, "release": rel_now,
                      "ok": works and whole}  # fmt: skip
    return out


def run(args: argparse.Namespace) -> int:
    with tempfile.TemporaryDirectory(prefix="buzzline-bench-ota-") as d:
        result = asyncio.run(measure(args, Path(d)))
    if args.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k}: {v}")
    return 0 if result["bricked"] == 0 and result["updated"] == result["podiums"] else 1
