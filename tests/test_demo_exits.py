"""The demo always exits: a stopping podium or host never waits forever on a swallowed cancel."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from buzzline.lifecycle import cancel_and_wait

RUNS = 20
AT_ONCE = 4  # the runs mostly wait on timers: four at a time keep the test short
RUN_TIMEOUT_S = 30


def _demo(seed: int) -> tuple[int, str]:
    """One whole demo (own Mosquitto, host, two podiums, one question) as its own process."""
    cmd = [sys.executable, "-m", "buzzline.cli", "demo", "--headless", "--questions", "1", "--podiums", "2"]
    proc = subprocess.Popen(
        [*cmd, "--seed", str(seed)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # a hung run is killed with its broker
    )
    try:
        out, _ = proc.communicate(timeout=RUN_TIMEOUT_S)
        return proc.returncode, out.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return -1, out.decode(errors="replace")


def test_the_demo_exits_every_time() -> None:
    with ThreadPoolExecutor(AT_ONCE) as pool:
        results = list(pool.map(_demo, range(RUNS)))
    hung = [(seed, out[-300:]) for seed, (rc, out) in enumerate(results) if rc != 0]
    assert not hung, f"{len(hung)} of {RUNS} demo runs did not exit cleanly: {hung[:2]}"
    assert all("show over: 1 questions" in out for _, out in results)


async def test_stopping_survives_a_swallowed_cancel() -> None:
    """What asyncio.wait_for does on Python 3.11 when a cancel meets a completing publish."""
    ignored = 0

    async def stubborn() -> None:
        nonlocal ignored
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                ignored += 1
                if ignored == 3:
                    raise

    async def failing() -> None:
        raise RuntimeError("died earlier")

    tasks = [asyncio.create_task(stubborn()), asyncio.create_task(failing())]
    await asyncio.sleep(0)
    async with asyncio.timeout(5):
        await cancel_and_wait(tasks, retry_s=0.01)
    assert ignored == 3 and all(t.done() for t in tasks)
