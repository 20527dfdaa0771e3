"""`buzzline host` and `buzzline sim` as a studio would run them: separate processes, one broker."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import httpx
from buzzline.commands.host import command_line
from buzzline.io.broker import free_port, wait_for_port


def test_host_and_sim_processes_play_a_question(broker, tmp_path):
    api_port = free_port()
    host = subprocess.Popen(
        command_line(broker.address, "cli", http=api_port, token="t0k", log=str(tmp_path / "show.db")),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    sim = subprocess.Popen(
        [sys.executable, "-m", "buzzline.cli", "sim", "--broker", broker.address, "--studio", "cli",
         "--podiums", "3", "--seconds", "60"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    lines: list[str] = []  # the sim's terminal, read as it prints
    reader = threading.Thread(target=lambda: lines.extend(iter(sim.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        wait_for_port("127.0.0.1", api_port, timeout=20)
        http = httpx.Client(base_url=f"http://127.0.0.1:{api_port}", headers={"authorization": "Bearer t0k"})
        deadline = time.monotonic() + 20
        while True:
            podiums = http.get("/api/state").json()["podiums"]
            if sum(1 for p in podiums if p["online"] and p["clock_trusted"]) == 3:
                break
            assert time.monotonic() < deadline, podiums
            time.sleep(0.05)
        r = http.post("/api/command", json={"name": "read"})
        assert r.status_code == 200, r.text
        assert http.post("/api/command", json={"name": "arm"}).status_code == 200
        # the simulated contestants press by themselves once their podium shows "armed"
        deadline = time.monotonic() + 10
        while True:
            game = http.get("/api/state").json()["game"]
            if game["phase"] == "answering":
                break
            assert time.monotonic() < deadline, game
            time.sleep(0.05)
        assert game["winner"] in {"p1", "p2", "p3"}
        # the login page points at what the host printed: its `console:` line, after `#token=`
        login = httpx.get(f"http://127.0.0.1:{api_port}/console").text
        assert "<code>console:</code>" in login and "<code>#token=</code>" in login
        assert "operator token: …" not in login
        assert game["order"][0]["podium"] == game["winner"]
        http.close()
        # the API shows the engine's state at once; the lights follow once the decision is on disk
        deadline = time.monotonic() + 10
        while f"{game['winner']}: light winner\n" not in lines:
            assert time.monotonic() < deadline, lines
            time.sleep(0.05)
    finally:
        sim.terminate()
        host.terminate()
        sim.wait(10)
        reader.join(10)
        host_out, _ = host.communicate(timeout=10)
    out = "".join(lines)
    assert "3 virtual podiums" in out
    losers = {"p1", "p2", "p3"} - {game["winner"]}
    assert all(f"{p}: light locked\n" in lines for p in losers), lines
    # the host's terminal: one line for the decision, the winner by name, bounds with their unit
    (line,) = [ln for ln in host_out.splitlines() if ln.startswith("Q1: winner ")]
    assert f"({game['winner']})" in line and "ring-in order:" in line and " ms)" in line
    assert host_out.count("operator API") == 1 and host_out.count("t0k") == 1
    assert f"console: http://127.0.0.1:{api_port}/console#token=t0k" in host_out


def test_a_second_host_on_the_same_log_is_refused_in_one_line(broker, tmp_path):
    log = str(tmp_path / "show.db")
    api_port = free_port()
    first = subprocess.Popen(
        command_line(broker.address, "cli", http=api_port, token="t0k", log=log),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        wait_for_port("127.0.0.1", api_port, timeout=20)  # up, log open
        second = subprocess.run(
            command_line(broker.address, "cli", log=log), capture_output=True, text=True, timeout=30
        )
        assert second.returncode == 2
        lines = second.stderr.strip().splitlines()
        assert len(lines) == 1 and "in use by another process" in lines[0] and str(first.pid) in lines[0], (
            lines
        )
        assert "(stop the other host first" in lines[0]
        # and the first host was not knocked off: it still answers and its broker link is up
        state = httpx.get(f"http://127.0.0.1:{api_port}/api/state").json()
        assert state["connected"] is True and first.poll() is None
    finally:
        first.terminate()
        first.wait(10)


def test_adapter_run_logs_in_with_the_credentials_and_says_when_the_host_is_up(tmp_path):
    """`buzzline adapter run` with the adapter account of `buzzline broker config`, on a secured
    broker: it says the broker is connected and the host not running yet, then running."""
    from buzzline.io.broker import MosquittoBroker
    from buzzline.io.security import broker_extra_config, write_broker_config

    creds = tmp_path / "creds"
    write_broker_config(creds, "s1", ["p1"])
    (tmp_path / "b").mkdir()
    with MosquittoBroker(
        extra_config=broker_extra_config(creds), allow_anonymous=False, workdir=tmp_path / "b"
    ) as b:
        adapter = subprocess.Popen(
            [sys.executable, "-m", "buzzline.cli", "adapter", "run", "osc", "--broker", b.address,
             "--credentials", str(creds)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(iter(adapter.stdout.readline, "")), daemon=True)
        reader.start()
        host = None
        try:

            def said(text: str) -> None:
                deadline = time.monotonic() + 20
                while not any(text in ln for ln in lines):
                    assert time.monotonic() < deadline and adapter.poll() is None, lines
                    time.sleep(0.05)

            said(f"broker {b.address} connected; host not running")
            host = subprocess.Popen(
                [sys.executable, "-m", "buzzline.cli", "host", "--broker", b.address,
                 "--credentials", str(creds)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            said(f"broker {b.address} connected; host running")
        finally:
            adapter.terminate()
            adapter.wait(10)
            if host is not None:
                host.terminate()
                host.wait(10)
            reader.join(5)
    assert "studio 's1'" in "".join(lines)  # the studio of the credentials
