"""The benchmarks' stand-ins for other machines yield the CPU in every thread they start: a
level set before exec reaches a program's later threads (setpriority on a running process
reached its first thread only, and nats-server had started others by then)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from buzzline.adapters.audience_cluster import AudienceCluster, ClusterPlan
from buzzline.io import priority

THREADED = (
    "import threading, time\n"
    "t = threading.Thread(target=time.sleep, args=(30,), daemon=True); t.start()\n"
    "print(threading.get_native_id(), t.native_id, flush=True)\n"
    "input()\n"
)


def _threads(pid: int) -> list[int]:
    return [int(t) for t in os.listdir(f"/proc/{pid}/task")]


@pytest.mark.parametrize("level", [priority.IDLE, 7])
def test_a_level_set_before_exec_reaches_every_thread(level: priority.Level) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    p = subprocess.Popen(
        [sys.executable, "-c", THREADED],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        preexec_fn=priority.before_exec(level),
    )  # fmt: skip
    try:
        assert p.stdout is not None
        tids = [int(t) for t in p.stdout.readline().split()]
        assert len(set(tids)) == 2 and set(tids) <= set(_threads(p.pid))
        for tid in tids:
            if level == priority.IDLE:
                assert os.sched_getscheduler(tid) == os.SCHED_IDLE
            else:
                assert os.sched_getscheduler(tid) == os.SCHED_OTHER
                assert os.getpriority(os.PRIO_PROCESS, tid) == min(base + 7, 19)
    finally:
        p.kill()
        p.wait()


def test_nodes_started_idle_run_idle_in_all_their_threads(tmp_path: Path) -> None:
    last = max(os.sched_getaffinity(0))
    with AudienceCluster(ClusterPlan.free(1), tmp_path / "nats", nice=priority.IDLE, cpus={last}) as cluster:
        proc = cluster.procs[0]
        assert proc is not None
        tids = _threads(proc.pid)
        assert len(tids) > 1  # a Go program: the runtime's threads are there by now
        assert {os.sched_getscheduler(t) for t in tids} == {os.SCHED_IDLE}
        assert all(os.sched_getaffinity(t) == {last} for t in tids)


def test_a_pinned_stretch_gives_its_children_the_cpus_and_then_ends() -> None:
    before = os.sched_getaffinity(0)
    first = min(before)
    with priority.pinned({first}):
        assert os.sched_getaffinity(0) == {first}
        out = subprocess.run(
            [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert out.strip() == f"[{first}]"
    assert os.sched_getaffinity(0) == before


def test_levels_from_the_command_line() -> None:
    assert priority.level("idle") == priority.IDLE and priority.level(" IDLE ") == priority.IDLE
    assert priority.level("0") == 0 and priority.level("19") == 19
    for bad in ("20", "-1", "low", ""):
        with pytest.raises(ValueError):
            priority.level(bad)
    assert priority.before_exec(0) is None


@pytest.mark.parametrize(
    "argv",
    [["bench", "e2e", "--audience-nice", "bogus"], ["bench", "audience", "--crowd-nice", "25"]],
)
def test_a_bad_level_on_the_command_line_is_one_line_and_exit_2(argv: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "buzzline.cli", *argv], capture_output=True, text=True)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "invalid level value" in lines[0] and "Traceback" not in r.stderr
