"""`bench fairness-live` through real Mosquitto and the real host process, and its delay proxy."""

from __future__ import annotations

import asyncio
import json
import time

import aiomqtt
import pytest
from buzzline.cli import main
from buzzline.io.broker import MosquittoBroker
from buzzline.sim.delayproxy import DelayProxy


async def test_delay_proxy_holds_each_direction_and_keeps_order(broker: MosquittoBroker) -> None:
    async with DelayProxy(broker.host, broker.port, lambda: 30_000, lambda: 20_000) as proxy:
        async with aiomqtt.Client("127.0.0.1", proxy.port, identifier="via-proxy") as c:
            await c.subscribe("t/x", qos=1)
            await asyncio.sleep(0.1)
            t0 = time.monotonic()
            for i in range(5):
                await c.publish("t/x", str(i).encode(), qos=1)
            got = []
            async with asyncio.timeout(10):
                async for m in c.messages:
                    got.append(int(bytes(m.payload)))
                    if len(got) == 5:
                        break
            # up and down each held at least their delay; TCP order kept
            assert time.monotonic() - t0 >= 0.05 and got == [0, 1, 2, 3, 4]
        assert proxy.chunks > 0


def test_fairness_live_prints_the_fairness_keys(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "fairness-live", "--profile", "lan", "--podiums", "3", "--races", "3", "--warmup", "1"]
    assert main([*args, "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert {"profile", "seed", "trials", "races_by_gap_ms", "systems", "by_board", "resolved"} <= set(r)
    assert r["lost"] == 0 and r["trials"] == 3 and r["podiums"] == 3
    b = r["systems"]["buzzline"]
    assert set(r["systems"]) == {"buzzline", "arrival_order", "fixed_window"}
    assert b["presses"] >= 6 and b["wrong_rate"] == 0  # bounds honest: never a wrong call
    assert b["bound_coverage"] is not None and b["decision_latency_ms"]["p50"] > 0


def test_fairness_live_bad_arguments_are_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness-live", "--profile", "nope", "--races", "1"]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err
    assert main(["bench", "fairness-live", "--races", "0"]) == 2
