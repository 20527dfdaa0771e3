"""A small `buzzline bench chaos`: one broker kill, one host kill, a podium reboot, a link reset,
real processes throughout; nothing lost, doubled or decided wrong, and it says so in its JSON."""

from __future__ import annotations

import json
import subprocess
import sys


def test_a_small_chaos_run_decides_every_question_right() -> None:
    cmd = [sys.executable, "-m", "buzzline.cli", "bench", "chaos", "--podiums", "3", "--presses", "10",
           "--broker-kills", "1", "--host-kills", "1", "--reboots", "1", "--resets", "1", "--blackholes", "0",
           "--json"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    assert r.returncode == 0, r.stderr[-2000:]
    out = json.loads(r.stdout)
    assert out["presses"] == 10 and out["decided"] >= 1
    assert (out["lost"], out["doubled"], out["wrong"]) == (0, 0, 0), out
    assert out["faults"]["broker_kills"] == 1 and out["faults"]["host_kills"] == 1
    assert out["recovery_s"]["broker"]["n"] == 1 and out["recovery_s"]["host"]["n"] == 1
