"""`buzzline viewer` as a person runs it: a fixed state in the window and on the overlay, stopped
with Ctrl-C; a busy overlay port is one line and exit 2."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from buzzline.io.broker import free_port

BIN = Path(sys.executable).parent


def test_a_still_state_in_the_window_and_on_the_overlay_then_ctrl_c(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert (
        subprocess.run([BIN / "buzzline", "viewer", "--demo-state", str(state)], check=False).returncode == 0
    )
    winner = json.loads(state.read_text())["state"]["info"]["winner_player"]
    port = free_port()
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy"}
    proc = subprocess.Popen(
        [BIN / "buzzline", "viewer", "--state", str(state), "--web", str(port), "--size", "640x360"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        scene = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                scene = httpx.get(f"http://127.0.0.1:{port}/overlay/scene", timeout=2).json()
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        assert scene is not None, proc.communicate(timeout=5)[0] if proc.poll() is not None else "no overlay"
        assert scene["winner"]["player"] == winner
        assert [round(o["gap_ms"], 1) for o in scene["order"]][:2] == [0.0, 3.2]
        time.sleep(0.5)
        assert proc.poll() is None  # the window is up (SDL's dummy driver) and stays up
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        out = proc.communicate(timeout=20)[0]
    assert proc.returncode == 0, out
    assert "Traceback" not in out and f"http://127.0.0.1:{port}/overlay" in out


def test_a_busy_overlay_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    state.write_text('{"phase": "idle", "ep": 0, "q": 1, "ts": 0}')
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = subprocess.run(
            [BIN / "buzzline", "viewer", "--state", str(state), "--web", str(port), "--no-window"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"buzzline viewer: --web {port}: cannot listen"), r.stderr
