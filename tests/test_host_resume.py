"""A host killed with SIGKILL mid-question resumes from its event log: same scores, same
question state, and the podiums' lights restored. Real processes, real broker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import subprocess

import httpx
from buzzline.commands.host import command_line
from buzzline.io.broker import free_port, wait_for_port
from buzzline.sim.podium import LightState, VirtualPodium

STUDIO = "resume"
TOKEN = "test-token"


def start_host(broker, db, port) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        command_line(broker.address, STUDIO, http=port, token=TOKEN, log=str(db)),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for_port("127.0.0.1", port, timeout=20)
    except Exception:
        proc.kill()
        raise AssertionError(proc.stderr.read().decode() if proc.stderr else "host did not start") from None
    return proc


def game_view(http: httpx.Client) -> dict:
    g = http.get("/api/state").json()["game"]
    g.pop("ts", None)
    return g


async def test_sigkill_mid_question_resumes(broker, tmp_path):
    db = tmp_path / "show.db"
    port = free_port()
    host = start_host(broker, db, port)
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"authorization": f"Bearer {TOKEN}"})

    def cmd(name: str, **a: object) -> dict:
        r = http.post("/api/command", json={"name": name, "args": a})
        assert r.status_code == 200, r.text
        return r.json()

    try:
        async with contextlib.AsyncExitStack() as stack:
            pods = []
            for i in range(3):
                p = VirtualPodium(f"r{i + 1}", broker.host, broker.port, STUDIO, rng=random.Random(i))
                pods.append(await stack.enter_async_context(p))
            async with asyncio.timeout(15):
                while True:
                    st = (await asyncio.to_thread(http.get, "/api/state")).json()
                    if sum(1 for q in st["podiums"] if q["clock_trusted"]) == 3:
                        break
                    await asyncio.sleep(0.05)

            # question 1: r1 wins and is judged correct
            await asyncio.to_thread(cmd, "read")
            await asyncio.to_thread(cmd, "arm")
            await pods[0].wait_light("armed")
            await pods[0].press()
            await pods[0].wait_light("winner")
            await asyncio.to_thread(cmd, "judge", correct=True)
            await asyncio.to_thread(cmd, "next")
            # question 2: r2 rings in; we kill the host while r2 is answering
            await asyncio.to_thread(cmd, "read")
            await asyncio.to_thread(cmd, "arm")
            await pods[1].wait_light("armed")
            await pods[1].press()
            await pods[1].wait_light("winner")
            before = await asyncio.to_thread(game_view, http)
            assert before["phase"] == "answering"
            assert before["winner"]
            assert any(v > 0 for v in before["scores"].values())
            full = (await asyncio.to_thread(http.get, "/api/state")).json()
            history = [(e["q"], e["player"], e["delta"], e["total"]) for e in full["score_history"]]
            assert history and history[0][0] == 1
            firmware = {q["podium"]: (q["fw"], q["hw"]) for q in full["podiums"]}
            assert firmware["r1"][0] == "sim-1"

            host.send_signal(signal.SIGKILL)
            host.wait(10)
            for p in pods:  # forget what the dead host showed, so restored lights are seen anew
                p.light = LightState()
            host = start_host(broker, db, port)
            after = await asyncio.to_thread(game_view, http)
            assert after == before
            # the console's score history and the podium cards' firmware survive the restart
            full = (await asyncio.to_thread(http.get, "/api/state")).json()
            assert [(e["q"], e["player"], e["delta"], e["total"]) for e in full["score_history"]] == history
            assert {q["podium"]: (q["fw"], q["hw"]) for q in full["podiums"]} == firmware
            await pods[1].wait_light("winner", timeout=10)
            await pods[0].wait_light("locked", timeout=10)
            await pods[2].wait_light("locked", timeout=10)
            # and the show goes on: judging works on the resumed question
            await asyncio.to_thread(cmd, "judge", correct=True)
            final = await asyncio.to_thread(game_view, http)
            assert final["phase"] == "judged"
    finally:
        http.close()
        if host.poll() is None:
            os.kill(host.pid, signal.SIGTERM)
            host.wait(10)
