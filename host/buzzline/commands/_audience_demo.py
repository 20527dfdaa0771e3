"""The demo's audience: a three-node NATS cluster, the audience adapter in the host, the join
link and its QR code on the terminal, and simulated phones that join and answer every question."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

DEMO_CODE = "PLAY42"
DEMO_QUESTIONS = [
    "Which planet is largest? | Mars | *Jupiter | Venus | Earth",
    "How many sides has a hexagon? | 5 | *6 | 7 | 8",
    "Which gas do plants take in? | Oxygen | *Carbon dioxide | Helium",
    "What is the boiling point of water at sea level? | 90 °C | *100 °C | 120 °C",
    "Which is a prime number? | 21 | 27 | *29 | 33",
]


@contextlib.asynccontextmanager
async def audience_demo(svc: Any, url: str, members: int, workdir: Path, seed: int) -> AsyncIterator[None]:
    """Run the audience beside the demo's show; without nats-server, say so and carry on."""
    from buzzline.adapters.api import Status
    from buzzline.adapters.audience import AudienceAdapter
    from buzzline.adapters.audience_cluster import (
        AUDIENCE_PASSWORD,
        AUDIENCE_USER,
        AudienceCluster,
        ClusterPlan,
        find_nats_server,
    )
    from buzzline.sim.audience import Crowd

    if members <= 0:
        yield
        return
    if find_nats_server() is None:
        print("audience: skipped (nats-server is not installed: apt-get install nats-server)", flush=True)
        yield
        return
    cluster = AudienceCluster(ClusterPlan.free(3), workdir / "audience")
    cluster.start()  # from this thread: the nodes die with the thread that started them
    crowd: Crowd | None = None
    watcher: asyncio.Task[None] | None = None
    try:
        inst = await svc.adapters.add(
            "audience",
            "audience",
            {
                "servers": cluster.plan.client_urls(),
                "password": cluster.plan.show_password,
                "code": DEMO_CODE,
                "ws_urls": cluster.plan.ws_urls(),
                "monitor": cluster.plan.monitor_urls(),
                "questions": DEMO_QUESTIONS,
                "window_s": 8.0,
            },
        )
        async with asyncio.timeout(20):
            while inst.status is not Status.OK:
                await asyncio.sleep(0.05)
        link = f"{url}/audience/?code={DEMO_CODE}"
        print(f"audience: 3 NATS nodes; join with code {DEMO_CODE} at {link}", flush=True)
        print(join_qr(link), flush=True)
        crowd = Crowd(cluster.plan.client_urls(), DEMO_CODE, members, AUDIENCE_USER, AUDIENCE_PASSWORD, seed)
        for m in crowd.members:
            m.think_s = (0.1, 0.5)  # the scripted show moves on within a second or two
        await crowd.start()
        print(f"audience: {members} simulated phones joined (open the link to play along)", flush=True)
        assert isinstance(inst.adapter, AudienceAdapter)
        watcher = asyncio.create_task(_print_results(inst), name="demo-audience")
        yield
    finally:
        if watcher is not None:
            watcher.cancel()
        if crowd is not None:
            await crowd.close()
        with contextlib.suppress(Exception):
            await svc.adapters.remove("audience")
        await asyncio.to_thread(cluster.stop)


def join_qr(link: str) -> str:
    """The join link as a QR code drawn with block characters, for a phone's camera."""
    import io

    import segno

    buf = io.StringIO()
    segno.make(link, error="m").terminal(out=buf, compact=True, border=2)
    return buf.getvalue().rstrip("\n")


async def _print_results(inst: Any) -> None:
    seen = None
    while True:
        await asyncio.sleep(0.25)
        adapter = inst.adapter
        results = getattr(adapter, "results", None)
        if results is None or results["sent_us"] == seen:
            continue
        seen = results["sent_us"]
        top = ", ".join(f"{r['nick']} {r['points']}" for r in results["board"][:3]) or "nobody yet"
        right = results["counts"][results["correct"]] if results["correct"] is not None else 0
        n = results["answers"]
        print(f"  audience: q{results['q']}: {n} answers, {right} right; top: {top}", flush=True)
