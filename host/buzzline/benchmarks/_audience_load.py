"""An audience beside another benchmark (`bench e2e --audience N`): a NATS cluster of its own,
the settings for an audience adapter in the benchmark's host, and N simulated phones answering
every question the host reads, so the podium figures are measured with the audience running."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buzzline.adapters.audience_cluster import AUDIENCE_PASSWORD, AUDIENCE_USER, AudienceCluster, ClusterPlan
from buzzline.benchmarks._procs import LineProc
from buzzline.benchmarks._stats import percentile
from buzzline.io import priority
from buzzline.lifecycle import wait_or_kill

CODE = "CRWD42"
PER_PROCESS = 500


@dataclass
class AudienceLoad:
    members: int
    workdir: Path
    cluster: AudienceCluster | None = None
    crowds: list[LineProc] = field(default_factory=list)
    apart: asyncio.subprocess.Process | None = None
    nice: priority.Level = 0
    cpus: set[int] | None = None  # the phones, nodes and a standalone adapter on these CPUs only

    def adapter_settings(self) -> str:
        assert self.cluster is not None
        plan = self.cluster.plan
        return json.dumps(
            {
                "servers": plan.client_urls(),
                "password": plan.show_password,
                "code": CODE,
                "questions": ["Load question? | A | *B | C | D"],
                "window_s": 5.0,
            }
        )

    async def start_apart(self, broker: str, studio: str) -> None:
        """The adapter in a process of its own (``buzzline adapter run audience``), fed from the
        broker like any standalone adapter: the host's process then carries none of its work."""
        settings = json.loads(self.adapter_settings())
        toml = self.workdir / "audience.toml"
        toml.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in settings.items()), encoding="utf-8")
        self.apart = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "buzzline.cli", "adapter", "run", "audience",
            "--broker", broker, "--studio", studio, "--config", str(toml),
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
            preexec_fn=priority.before_exec(self.nice, cpus=self.cpus),  # an adapter elsewhere too
        )  # fmt: skip
        assert self.apart.stdout is not None
        async with asyncio.timeout(30):
            while line := (await self.apart.stdout.readline()).decode():
                if f"ok: code {CODE}" in line:
                    break
        asyncio.get_running_loop().create_task(self._drain_output())

    async def _drain_output(self) -> None:
        assert self.apart is not None and self.apart.stdout is not None
        while await self.apart.stdout.readline():
            pass

    async def start_members(self, seed: int) -> None:
        """After the host's adapter is up: the phones join it."""
        assert self.cluster is not None
        procs = max(1, -(-self.members // PER_PROCESS))
        for i in range(procs):
            n = self.members // procs + (1 if i < self.members % procs else 0)
            cfg = {
                "urls": self.cluster.plan.client_urls(),
                "code": CODE,
                "n": n,
                "seed": seed * 1000 + i,
                "user": AUDIENCE_USER,
                "password": AUDIENCE_PASSWORD,
                "think": [0.05, 0.6],  # the benchmark's questions follow each other quickly
                "nice": self.nice,
                "cpus": None if self.cpus is None else sorted(self.cpus),
            }
            crowd = LineProc(f"audience crowd {i + 1}")
            self.crowds.append(crowd)
            await crowd.start("buzzline.benchmarks._audience_crowd", [json.dumps(cfg)])

    async def report(self) -> dict[str, Any]:
        answered = 0
        fanout: list[float] = []
        for crowd in self.crowds:
            stats = json.loads((await crowd.ask("stats", 30)).split(" ", 1)[1])
            answered += sum(len(sessions) for sessions in stats["acked"].values())
            fanout += stats["fanout_us"]
        return {
            "members": self.members,
            "answers_acknowledged": answered,
            "fanout_ms_p99": round(percentile(fanout, 99) / 1000, 1) if fanout else None,
        }


@contextlib.asynccontextmanager
async def audience_load(
    members: int, nice: priority.Level = 0, cpus: set[int] | None = None
) -> AsyncIterator[AudienceLoad | None]:
    """``nice``: the phones and nodes yield the CPU to the show (as if on machines of their own)."""
    if members <= 0:
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="buzzline-bench-load-") as tmp:
        load = AudienceLoad(members, Path(tmp), nice=nice, cpus=cpus)
        with AudienceCluster(ClusterPlan.free(3), Path(tmp) / "nats", nice=nice, cpus=cpus) as cluster:
            load.cluster = cluster
            try:
                yield load
            finally:
                for crowd in load.crowds:
                    with contextlib.suppress(Exception):
                        crowd.send("quit")
                    with contextlib.suppress(Exception):
                        await crowd.stop()
                if load.apart is not None and load.apart.returncode is None:
                    load.apart.send_signal(signal.SIGINT)
                    await wait_or_kill(load.apart, 5)
