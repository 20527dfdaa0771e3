"""A small `buzzline bench chaos`: a broker kill, a podium reboot, a link reset, real processes
throughout; nothing lost, doubled or decided wrong, and it says so in its JSON. Host kills: the
firmware run aimed just after presses on a slow log, below (the full runs, docs/performance.md)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest


def _firmware_chaos_decides_every_question_right(*args: str, timeout: float = 110) -> dict[str, Any]:
    """`bench chaos --firmware ARGS --json`: lost, doubled and wrong 0, every question decided."""
    cmd = [sys.executable, "-m", "buzzline.cli", "bench", "chaos", "--firmware", *args, "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert r.stdout.strip(), r.stderr[-2000:]
    out: dict[str, Any] = json.loads(r.stdout)
    counts = {
        k: out[k] for k in ("lost", "doubled", "wrong", "wrong_cases", "lost_presses", "undecided_questions")
    }
    assert (out["lost"], out["doubled"], out["wrong"]) == (0, 0, 0), counts
    assert out["decided"] == out["questions"] and not out["undecided_questions"], counts
    assert r.returncode == 0 and out["firmware"] is True
    return out


def test_a_small_chaos_run_decides_every_question_right() -> None:
    cmd = [sys.executable, "-m", "buzzline.cli", "bench", "chaos", "--podiums", "3", "--presses", "10",
           "--broker-kills", "1", "--host-kills", "0", "--reboots", "1", "--resets", "1", "--blackholes", "0",
           "--json"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=110)
    assert r.stdout.strip(), r.stderr[-2000:]
    out = json.loads(r.stdout)
    counts = {k: out[k] for k in ("lost", "doubled", "wrong", "wrong_cases", "lost_presses", "timeouts")}
    assert (out["lost"], out["doubled"], out["wrong"]) == (0, 0, 0), counts
    assert r.returncode == 0 and out["presses"] == 10 and out["decided"] >= 1
    assert out["faults"]["broker_kills"] == 1 and out["faults"]["podium_reboots"] == 1
    assert out["recovery_s"]["broker"]["n"] == 1 and out["faults"]["link"]["dropped"] > 0


@pytest.mark.flaky(reruns=2)  # real processes timed on a shared machine: a real fault fails every run
@pytest.mark.broker
@pytest.mark.micropython
def test_a_small_chaos_run_with_firmware_podiums_decides_every_question_right() -> None:
    """The same with real firmware podiums (micropython unix port, 96 KB heap): a broker kill with
    presses in flight, a podium SIGKILLed and started again (then racing first, then second), a
    link reset and a press made while the podium's link is down."""
    out = _firmware_chaos_decides_every_question_right(
        "--podiums", "4", "--presses", "20", "--broker-kills", "1", "--host-kills", "0", "--reboots", "1",
        "--resets", "1", "--blackholes", "0", "--link-down-presses", "1", "--seed", "7",
    )  # fmt: skip
    assert out["presses"] >= 10  # fewer racers while one reboots
    faults = out["faults"]
    assert (faults["broker_kills"], faults["podium_reboots_struck"], faults["link_down_presses"]) == (
        1,
        1,
        1,
    ), faults
    assert out["recovery_s"]["reboot"]["n"] == 1 and faults["reboot_races"] >= 1, out


def test_a_port_picked_for_later_is_outside_the_range_the_kernel_hands_out() -> None:
    """The chaos run's host is told its API port, starts a second later and is killed and started
    again on it: a port the kernel hands out (port 0, outgoing connections) can be taken in
    between, so `free_port` picks below that range."""
    from buzzline.io.broker import free_port

    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = {free_port() for _ in range(20)}
    assert all(1024 <= p < low for p in ports) and len(ports) > 1


def test_a_host_that_stops_answering_is_named_with_its_last_words(tmp_path: Path) -> None:
    from buzzline.benchmarks.chaos import HostProcess

    out = tmp_path / "host.out"
    proc = HostProcess("127.0.0.1:1", str(tmp_path / "log.db"), 1, "t", out)
    assert proc.describe() == "host not started"
    proc.argv = [
        sys.executable,
        "-c",
        "print('starting'); print('buzzline: --http: port 1 is in use'); raise SystemExit(2)",
    ]
    proc.start()
    assert proc.proc is not None and proc.proc.wait(10) == 2
    assert proc.describe() == "host exited with 2, its output ends: buzzline: --http: port 1 is in use"


@pytest.mark.flaky(reruns=2)  # real processes timed on a shared machine: a real fault fails every run
@pytest.mark.broker
@pytest.mark.micropython
def test_host_kills_right_after_a_press_on_a_slow_log_lose_no_press(tmp_path: Path) -> None:
    """Four host SIGKILLs, each 8-20 ms after a question's first press, with the host's log
    writes slowed by 15 ms (bench/slowwrite.c, preloaded into the host alone): a buzz the host
    read (its delivery acknowledged to the broker) and had not written dies with it, and only
    the podium's lock acknowledgement can bring it back after the restart. Before the host
    logged its resume (HostResumed) and waited for those acknowledgements, 13 of 20 such kills
    lost the first press and named the second presser."""
    shim = tmp_path / "slowwrite.so"
    src = Path(__file__).resolve().parent.parent / "bench" / "slowwrite.c"
    subprocess.run(
        ["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(src), "-ldl"], check=True, timeout=60
    )
    out = _firmware_chaos_decides_every_question_right(
        "--podiums", "3", "--presses", "54", "--broker-kills", "0", "--host-kills", "4", "--reboots", "0",
        "--resets", "0", "--blackholes", "0", "--link-down-presses", "0", "--seed", "14", "--aim-host-kills",
        "--host-env", f"LD_PRELOAD={shim}", "--host-env", "SLOWWRITE_MS=15", timeout=150,
    )  # fmt: skip
    assert out["faults"]["host_kills"] == 4, out["faults"]


def test_host_env_takes_name_value_pairs_and_says_so_in_one_line() -> None:
    r = subprocess.run([sys.executable, "-m", "buzzline.cli", "bench", "chaos", "--host-env", "NOVALUE"],
                       capture_output=True, text=True, timeout=30)  # fmt: skip
    assert r.returncode == 2 and "NAME=VALUE" in r.stderr and len(r.stderr.strip().splitlines()) == 1, (
        r.stderr
    )
