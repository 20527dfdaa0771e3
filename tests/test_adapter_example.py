"""Plug-and-play, as a third party meets it: the example adapter package is pip-installed into the
venv, shows up in `buzzline adapters list`, and receives a whole question both inside the host
(a show file's [[adapters]]) and standalone (`buzzline adapter run`), with nothing in host/ touched."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.commands.host import command_line
from buzzline.io.broker import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "buzzline-adapter-example"
CLI = [sys.executable, "-m", "buzzline.cli"]


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", *args],
        capture_output=True,
        text=True,
        timeout=240,
    )


@pytest.fixture(scope="module")
def installed() -> Iterator[None]:
    r = _pip("install", "--no-deps", "--no-build-isolation", str(EXAMPLE))
    if r.returncode != 0:  # no setuptools in this venv: let pip fetch the build backend
        r = _pip("install", "--no-deps", str(EXAMPLE))
    assert r.returncode == 0, r.stderr
    try:
        yield
    finally:
        _pip("uninstall", "-y", "buzzline-adapter-example")


def test_the_installed_kind_is_listed_with_its_schema(installed: None) -> None:
    out = subprocess.run([*CLI, "adapters", "list", "--json"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    kinds = {k["kind"]: k for k in json.loads(out.stdout)}
    assert kinds["jsonl"]["package"] == "buzzline-adapter-example"
    assert [f["name"] for f in kinds["jsonl"]["schema"]] == ["path", "view"]
    show = subprocess.run([*CLI, "adapters", "show", "jsonl"], capture_output=True, text=True, timeout=60)
    assert show.returncode == 0 and "path (str; required)" in show.stdout, show.stdout
    bad = subprocess.run([*CLI, "adapters", "show", "nope"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "unknown adapter kind 'nope'" in bad.stderr
    assert "Traceback" not in bad.stderr


def _events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [e for line in path.read_text().splitlines() for e in json.loads(line)["events"]]


def test_a_whole_question_reaches_the_adapter_in_the_host_and_standalone(
    installed: None, broker: Any, tmp_path: Path
) -> None:
    inside, outside = tmp_path / "inside.jsonl", tmp_path / "outside.jsonl"
    show = tmp_path / "show.toml"
    show.write_text(
        '[show]\nassign_on_hello = true\n\n[[adapters]]\nname = "notices"\nkind = "jsonl"\n'
        f'path = "{inside}"\n'
    )
    (tmp_path / "remote.toml").write_text(f'path = "{outside}"\nview = true\n')
    api = free_port()
    argv = command_line(broker.address, "ex", http=api, token="tok")
    procs = [
        subprocess.Popen(
            [*argv, "--show", str(show)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        ),
        subprocess.Popen(
            [
                *CLI,
                "adapter",
                "run",
                "jsonl",
                "--broker",
                broker.address,
                "--studio",
                "ex",
                "--config",
                str(tmp_path / "remote.toml"),
                "--api",
                f"http://127.0.0.1:{api}",
                "--token",
                "tok",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ),
        subprocess.Popen(
            [*CLI, "sim", "--broker", broker.address, "--studio", "ex", "--podiums", "2", "--seconds", "60"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        wait_for_port("127.0.0.1", api, timeout=20)
        http = httpx.Client(base_url=f"http://127.0.0.1:{api}", headers={"authorization": "Bearer tok"})
        deadline = time.monotonic() + 20
        while (
            sum(1 for p in http.get("/api/state").json()["podiums"] if p["online"] and p["clock_trusted"]) < 2
        ):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for name in ("read", "arm"):
            assert http.post("/api/command", json={"name": name}).status_code == 200
        deadline = time.monotonic() + 10
        while http.get("/api/state").json()["game"]["phase"] != "answering":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert http.post("/api/command", json={"name": "judge", "args": {"correct": True}}).status_code == 200
        http.close()
        want = ["phase", "armed", "locked", "winner", "judged", "score"]
        deadline = time.monotonic() + 10
        while not all(k in [e["k"] for e in _events(f)] for f in (inside, outside) for k in want):
            assert time.monotonic() < deadline, (_events(inside), _events(outside))
            time.sleep(0.05)
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            p.wait(10)
    for f in (inside, outside):
        winners = [e for e in _events(f) if e["k"] == "winner"]
        assert len(winners) == 1 and winners[0]["podium"] in ("p1", "p2"), f
        judged = [e for e in _events(f) if e["k"] == "judged"]
        assert judged[0]["correct"] is True and judged[0]["podium"] == winners[0]["podium"]
    remote_out = procs[1].stdout.read() if procs[1].stdout else ""
    assert "adapter jsonl: ok" in remote_out, remote_out
    # the standalone one was asked for the view too, and got the viewers' state with each notice
    last = json.loads(outside.read_text().splitlines()[-1])
    assert last["view"]["phase"] == "judged" and last["view"]["link"] == {"broker": True, "host": True}
