"""How soon a restarted host trusts firmware podiums' clocks again (docs/performance.md).

Real processes: Mosquitto, `buzzline host --log --http` (SIGKILLed and started again on its log,
as `bench chaos` does) and N firmware podiums on the MicroPython unix port (96 KB heap). Each
restart is timed from the kill until the host is connected and has heard every podium, and until
it trusts every podium's clock. ``--fresh`` deletes the host's saved clock models before each
restart, so only the podiums' burst on the host's return rebuilds them (SPEC §12).

    .venv/bin/python firmware/tools/host_restart_trust.py --podiums 3 --restarts 5 [--fresh]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from buzzline.benchmarks.chaos import HostProcess
from buzzline.io.broker import MosquittoBroker, free_port
from unixpodium import UnixPodium, build_tree

STUDIO = "chaos"  # HostProcess runs the host for this studio


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--podiums", type=int, default=3)
    ap.add_argument("--restarts", type=int, default=5)
    ap.add_argument("--fresh", action="store_true", help="no saved clock models: the burst alone")
    args = ap.parse_args()
    token = "t-" + os.urandom(4).hex()
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker(workdir=Path(tmp), persistence=True) as broker:
        tree = build_tree(Path(tmp) / "fw")
        api_port = free_port()
        log = Path(tmp) / "show.db"
        host = HostProcess(broker.address, str(log), api_port, token, Path(tmp) / "host.out")
        host.start()
        pods = [
            UnixPodium(tree, Path(tmp) / f"p{i + 1}", broker.port, pid=f"p{i + 1}", studio=STUDIO).start()
            for i in range(args.podiums)
        ]
        pids = [p.pid for p in pods]
        http = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", timeout=2)

        def state() -> dict[str, Any] | None:
            try:
                r = http.get("/api/state", headers={"authorization": f"Bearer {token}"})
                return dict(r.json())
            except (httpx.HTTPError, ValueError):
                return None

        def wait(t0_us: int) -> tuple[float, float]:
            heard = trusted = None
            deadline = time.monotonic() + 60
            while trusted is None:
                st = state()
                t = time.monotonic_ns() // 1000
                if st and st.get("connected"):
                    reg = {p["podium"]: p for p in st["podiums"]}
                    now = [reg.get(pid) for pid in pids]
                    if all(p and p["last_heard_us"] > t0_us for p in now):
                        heard = heard or (t - t0_us) / 1e6
                        if all(p and p["clock_trusted"] for p in now):
                            trusted = (t - t0_us) / 1e6
                if time.monotonic() > deadline:
                    raise TimeoutError(f"clocks not trusted within 60 s: {st}")
                time.sleep(0.02)
            return heard or trusted, trusted

        try:
            wait(0)
            recovered, trusted = [], []
            for _ in range(args.restarts):
                time.sleep(2.0)
                t0 = time.monotonic_ns() // 1000
                host.kill()
                if args.fresh:
                    (log.parent / (log.name + ".clocks.json")).unlink(missing_ok=True)
                host.start()
                h, c = wait(t0)
                recovered.append(h)
                trusted.append(c)
            mem = [p.cmd("mem?") for p in pods]
        finally:
            for p in pods:
                p.stop()
            host.stop()
            http.close()
    out = {
        "podiums": args.podiums,
        "restarts": args.restarts,
        "fresh": args.fresh,
        "recovery_s": {"p50": round(statistics.median(recovered), 3), "max": round(max(recovered), 3)},
        "clock_trust_s": {"p50": round(statistics.median(trusted), 3), "max": round(max(trusted), 3)},
        "trust_after_recovery_s": [round(c - h, 3) for h, c in zip(recovered, trusted, strict=True)],
        "memerr": [int(m.split("memerr=")[1].split()[0]) for m in mem],
    }
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
