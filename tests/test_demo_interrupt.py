"""Ctrl-C in a terminal stops the demo cleanly: the signal goes to the whole foreground process
group, the demo says where the show stood, stops its podiums, host and broker in order, prints no
traceback or library noise, and leaves nothing in the temporary directory."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path


def test_ctrl_c_stops_the_demo_cleanly(tmp_path: Path) -> None:
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "buzzline.cli", "demo", "--headless", "--podiums", "3", "--seed", "2"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "TMPDIR": str(tmp)},
        start_new_session=True,  # a process group of its own, as a terminal's foreground job has
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        for line in proc.stdout:  # wait until a question is under way
            if "armed: buzzers open" in line or time.monotonic() > deadline:
                break
        assert proc.poll() is None, "the demo ended before it could be interrupted"
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C does: every process in the group
        rest, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 0, rest
    assert "stopped (Ctrl-C); standings: 1. Player " in rest
    for noise in ("Traceback", "Broken pipe", "never retrieved", "ERROR", "WARNING"):
        assert noise not in rest, rest
    assert list(tmp.iterdir()) == []
