"""Measure the unix-port podium: press-to-publish delay and heap use (a script, not a test).

    .venv/bin/python firmware/tools/measure_press.py [--presses 50]

Press in the harness -> buzz seen by a subscriber on a private Mosquitto; prints the median,
90th percentile and maximum, then the podium's peak gc.mem_alloc() and live heap after collect.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from buzzline.io.broker import MosquittoBroker
from unixpodium import HEAP, Bus, UnixPodium, build_tree


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presses", type=int, default=50)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp, MosquittoBroker(workdir=Path(tmp)) as broker:
        tree = build_tree(Path(tmp) / "fw")
        bus = Bus(broker.port, host_studio="m1").connect()
        pod = UnixPodium(tree, Path(tmp) / "p1", broker.port, pid="p1", studio="m1").start()
        try:
            bus.wait_for(lambda t, m: m["t"] == "hello", what="hello")
            bus.publish("buzzline/m1/podium/p1/cmd", {"t": "arm", "cs": 1, "ep": 1})
            pod.wait(lambda: pod.state()["armed"] == 1, what="armed")
            delays: list[float] = []

            def buzz_times() -> list[float]:
                with bus._cond:
                    return [ts for _, m, _, ts in bus.msgs if m and m["t"] == "buzz"]

            def count() -> int:
                return len(buzz_times())

            for i in range(args.presses):
                t0 = time.perf_counter()
                pod.cmd("press")
                bus.wait_for(lambda t, m, n=i + 1: m["t"] == "buzz" and m["seq"] > 0 and count() >= n, 5)
                delays.append((buzz_times()[i] - t0) * 1000)
                # Pace like a person (5 presses/s): faster edges would be reported as chatter.
                time.sleep(0.1)
                pod.cmd("release")
                time.sleep(0.1)
            peak, live = (int(x) for x in pod.cmd("heap?").split())
            state = pod.state()
        finally:
            pod.stop()
            bus.close()
    delays.sort()
    print(f"presses: {len(delays)} (buzzes seen), heap limit {HEAP}, drops {state['drops']}")
    print(
        f"press-to-publish ms: median {statistics.median(delays):.2f} "
        f"p90 {delays[int(len(delays) * 0.9) - 1]:.2f} max {delays[-1]:.2f} min {delays[0]:.2f}"
    )
    print(f"heap: peak gc.mem_alloc {peak} B, live after gc.collect {live} B")
    return 0


if __name__ == "__main__":
    sys.exit(main())
