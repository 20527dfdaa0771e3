"""`make demo` prints a console login link that works, and with --operator the show is run from
the console: the walk-through of docs/console.md, over HTTP as the page does it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time

import httpx


def test_demo_prints_a_login_link_and_the_operator_runs_the_show():
    proc = subprocess.Popen(
        [sys.executable, "-m", "buzzline.cli", "demo", "--operator", "--headless", "--seconds", "60"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert proc.stdout is not None
        link = None
        for line in proc.stdout:
            m = re.search(r"console: (http://127\.0\.0\.1:\d+)/console#token=(\S+)", line)
            link = m.groups() if m else link
            if "run the show from the console" in line:
                break
        assert link is not None, "no console link printed"
        base, token = link
        with httpx.Client(base_url=base, timeout=10) as http:
            assert http.get("/console").status_code == 401
            csrf = http.post("/console/login", json={"token": token}).json()["csrf"]
            assert http.get("/console").status_code == 200

            def cmd(name: str, **args: object) -> httpx.Response:
                return http.post(
                    "/api/command", json={"name": name, "args": args}, headers={"x-csrf-token": csrf}
                )

            def wait_phase(want: str) -> dict:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    state = http.get("/api/state").json()
                    if state["game"]["phase"] == want:
                        return state
                    time.sleep(0.05)
                raise AssertionError(f"phase never became {want}: {state['game']['phase']}")

            assert cmd("read").status_code == 200
            assert cmd("arm").status_code == 200
            state = wait_phase("answering")  # the demo's players ring in by themselves
            winner = state["game"]["info"]["winner_player"]
            assert state["timeline"]["decisions"][0]["order"]
            assert cmd("judge", correct=True).status_code == 200
            state = wait_phase("judged")
            assert state["game"]["scores"][winner] == 100
            assert cmd("next").status_code == 200
            assert wait_phase("idle")["game"]["q"] == 2
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        finally:
            proc.kill()
    assert proc.returncode == 0
