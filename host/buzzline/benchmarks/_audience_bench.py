"""`bench audience`'s body (see `buzzline.benchmarks.audience`): imported when it runs, so the
command line does not load the NATS client for every other command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

from buzzline.adapters.api import CommandResult, Notice, Status, as_view
from buzzline.adapters.audience import AudienceAdapter
from buzzline.adapters.audience_cluster import (
    AUDIENCE_PASSWORD,
    AUDIENCE_USER,
    AudienceCluster,
    ClusterPlan,
    node_health,
)
from buzzline.adapters.runner import AdapterManager
from buzzline.benchmarks._procs import LineProc
from buzzline.benchmarks._stats import percentile
from buzzline.notices import NoticeBus

CODE = "BENCH9"
PROBES = 30


def _ms(values_us: list[int] | list[float]) -> dict[str, float]:
    return {
        "p50": round(percentile(values_us, 50) / 1000, 2),
        "p99": round(percentile(values_us, 99) / 1000, 2),
        "max": round(max(values_us) / 1000, 2) if values_us else float("nan"),
        "n": len(values_us),
    }


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _ok(name: str, /, **args: Any) -> CommandResult:
    return CommandResult(True)


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"clients": args.clients, "nodes": args.nodes, "window_s": args.window}
    out["load_before"] = os.getloadavg()[0]
    out["crowd_nice"] = args.crowd_nice
    with (
        tempfile.TemporaryDirectory(prefix="buzzline-bench-audience-") as tmp,
        AudienceCluster(ClusterPlan.free(args.nodes), args.keep or Path(tmp)) as c,
    ):
        bus = NoticeBus()
        view: dict[str, Any] = {"phase": "idle", "q": 0, "info": {"title": "Bench"}}
        manager = AdapterManager(bus, lambda: as_view(view), _ok, kinds={"audience": AudienceAdapter})
        procs = args.procs or min(4, -(-args.clients // 500))
        crowds = [LineProc(f"audience crowd {i + 1}") for i in range(procs)]
        try:
            adapter = await _start_adapter(manager, c, args)
            began = time.monotonic()
            for i, crowd in enumerate(crowds):
                n = args.clients // procs + (1 if i < args.clients % procs else 0)
                await crowd.start("buzzline.benchmarks._audience_crowd", [_crowd_config(c, n, args, i)])
            out["join_all_s"] = round(time.monotonic() - began, 2)
            if args.browsers:
                out["browser_clock"] = await _browser_clock(args.browsers)
            # a few listeners in a process of their own that does nothing else: how long the
            # cluster takes to reach a phone, without the wait for 499 others sharing a process
            probes = LineProc("audience probes")
            crowds.append(probes)
            await probes.start(
                "buzzline.benchmarks._audience_crowd", [_crowd_config(c, PROBES, args, 99, True)]
            )
            out |= await _questions(c, bus, adapter, crowds, args)
        finally:
            for crowd in crowds:
                with contextlib.suppress(Exception):
                    crowd.send("quit")
                with contextlib.suppress(Exception):
                    await crowd.stop()
            await manager.close()
    out["load_after"] = os.getloadavg()[0]
    return out


async def _start_adapter(
    manager: AdapterManager, c: AudienceCluster, args: argparse.Namespace
) -> AudienceAdapter:
    settings = {
        "servers": c.plan.client_urls(),
        "password": c.plan.show_password,
        "code": CODE,
        "replicas": min(3, args.nodes),
        "ws_urls": c.plan.ws_urls(),
        "questions": ["Bench question? | A | *B | C | D"],
        "window_s": args.window,
    }
    inst = await manager.add("audience", "audience", settings)
    async with asyncio.timeout(30):
        while inst.status is not Status.OK:
            await asyncio.sleep(0.05)
    assert isinstance(inst.adapter, AudienceAdapter)
    return inst.adapter


def _crowd_config(c: AudienceCluster, n: int, args: argparse.Namespace, i: int, listen: bool = False) -> str:
    return json.dumps(
        {
            "urls": c.plan.client_urls(),
            "code": CODE,
            "n": n,
            "seed": args.seed * 1000 + i,
            "user": AUDIENCE_USER,
            "password": AUDIENCE_PASSWORD,
            "think": [3600, 3600] if listen else [0.2, args.window * 0.6],  # listeners never answer
            "listen": listen,
            "nice": args.crowd_nice,
        }
    )


async def _questions(
    c: AudienceCluster,
    bus: NoticeBus,
    adapter: AudienceAdapter,
    crowds: list[LineProc],
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Each question opened as the host would; a node killed in the last; then the figures."""
    pids = [p.pid for p in c.procs if p is not None]
    cpu0 = [_cpu_s(pid) for pid in pids]
    varz0 = node_health(c.plan.monitor_urls())
    kill: dict[str, Any] = {}
    for qi in range(1, args.questions + 1):
        bus.publish(Notice(qi, 0, (), {"phase": "reading", "q": qi, "info": {"title": "Bench"}}))
        if qi == args.questions and not args.no_kill:
            await asyncio.sleep(args.window * 0.3)
            url = adapter.nc.connected_url if adapter.nc else None
            ports = [n.client for n in c.plan.nodes]
            own = ports.index(url.port) if url is not None and url.port in ports else 0
            victim = own if args.kill == "adapter" else (own + 1) % args.nodes
            kill["node"] = c.plan.nodes[victim].name
            kill["adapter_on_it"] = victim == own
            c.kill(victim)
        async with asyncio.timeout(args.window + 30):
            while not (adapter.results and adapter.results["q"] == qi):
                await asyncio.sleep(0.02)
    cpu1 = [_cpu_s(pid) if alive else None for pid, alive in zip(pids, c.alive(), strict=True)]
    varz1 = node_health(c.plan.monitor_urls())
    await asyncio.sleep(1.0)  # the results' fan-out reaches the last members
    # every member back and no answer still being resent, then the stream drained to the show:
    # only then is an answer the stream acknowledged and the show never counted a lost one
    deadline = time.monotonic() + 30
    while True:
        parts = [json.loads((await cr.ask("stats", 30)).split(" ", 1)[1]) for cr in crowds]
        stats = _merge([p for p in parts if not p["listen"]])
        probe = next((p for p in parts if p["listen"]), None)
        if (stats["down_now"] == 0 and stats["in_flight"] == 0) or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    await _drained(adapter, time.monotonic() + 15)
    outages = stats["outages_s"]
    out = _figures(adapter, stats, args)
    if probe is not None:
        out["fanout_listeners_ms"] = _ms(probe["fanout_us"])
        out["fanout_listeners_read_ms"] = _ms(probe["fanout_read_us"])
    out["node_kill"] = kill | {
        "members_moved": stats["moved"],
        "longest_outage_s": round(max(outages, default=0.0), 2),
        "outage_p99_s": round(percentile(outages, 99), 2) if outages else 0.0,
        "members_down_at_end": stats["down_now"],
    }
    out["per_node"] = [
        {
            "node": n.name,
            "connections_before": a.get("connections"),
            "msgs_out": (b["out_msgs"] - a.get("out_msgs", 0)) if b.get("up") else None,
            "cpu_s": round(c1 - c0, 2) if c1 is not None else None,
        }
        for n, a, b, c0, c1 in zip(c.plan.nodes, varz0, varz1, cpu0, cpu1, strict=True)
    ]
    return out


async def _drained(adapter: AudienceAdapter, deadline: float) -> None:
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            info = await adapter._psub.consumer_info()
            if info.num_pending == 0 and info.num_ack_pending == 0:
                return
        await asyncio.sleep(0.2)


def _merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The crowd processes' stats as one."""
    out: dict[str, Any] = {"acked": {}}
    for part in parts:
        for q, sessions in part["acked"].items():
            out["acked"].setdefault(q, {}).update(sessions)
        for key, value in part.items():
            if key == "acked":
                continue
            if isinstance(value, list):
                out.setdefault(key, []).extend(value)
            elif key == "join_s":
                out[key] = max(out.get(key, 0.0), value)
            else:
                out[key] = out.get(key, 0) + value
    return out


def _figures(adapter: Any, stats: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    book = adapter.book
    questions = []
    lost = unique = 0
    for qi in range(1, args.questions + 1):
        acked = stats["acked"].get(str(qi), {})
        q = book.question if book.question and book.question.qid == qi else book.past.get(qi)
        accepted = {sid: a.choice for sid, a in q.answers.items()} if q else None
        row: dict[str, Any] = {"q": qi, "acked_by_stream": len(acked)}
        if accepted is not None:
            missing = [sid for sid in acked if accepted.get(sid) != acked[sid]]
            row |= {"accepted": len(accepted), "lost": len(missing)}
            lost += len(missing)
            unique += len(accepted)
        questions.append(row)
    counts = dict(book.counts)
    # every acceptance is counted; each session holds one answer per question: more acceptances
    # than answers held would be an answer counted twice
    doubled = counts.get("accepted", 0) - unique
    return {
        # at each phone's socket (kernel receive stamp): what the cluster did
        "fanout_ms": _ms(stats["fanout_us"]),
        # read by the simulator's process: adds the wait for the other phones sharing it
        "fanout_read_ms": _ms(stats["fanout_read_us"]),
        "results_fanout_ms": _ms(stats["results_us"]),
        "results_fanout_read_ms": _ms(stats["results_read_us"]),
        "close_to_results_published_ms": [round(x, 1) for x in adapter.close_to_results_ms],
        # the last results of each question: later than the first when the stream held answers
        # back (a node died under them) and the results were sent again with them
        "close_to_final_results_ms": {str(q): round(ms, 1) for q, ms in adapter.final_results_ms.items()},
        "answers": {
            "accepted_total": counts.get("accepted", 0),
            "lost": lost,
            "doubled": doubled,
            "duplicates_caught": counts.get("duplicate", 0),
            "deduped_by_stream": stats["deduped"],
            "resends": stats["resends"],
            "refused": {k: v for k, v in counts.items() if k != "accepted"},
            "per_question": questions,
        },
        "sim_clock_error_us": {
            "abs_p50": percentile([abs(x) for x in stats["clock_err_us"]], 50),
            "abs_p99": percentile([abs(x) for x in stats["clock_err_us"]], 99),
            "bound_p99": percentile(stats["bounds_us"], 99),
            "covered": sum(
                1 for e, b in zip(stats["clock_err_us"], stats["bounds_us"], strict=True) if abs(e) <= b
            ),
            "n": len(stats["clock_err_us"]),
        },
    }


async def _browser_clock(pages: int) -> dict[str, Any]:
    """Real Chromium pages join through the cluster; each reads its estimate of the show clock
    against this process's reading taken around it (the reading's half-width is stated)."""
    import uvicorn
    from playwright.async_api import async_playwright
    from starlette.applications import Starlette

    from buzzline.adapters.audience import show_clock_us
    from buzzline.benchmarks.viewer import CHROMIUM, CHROMIUM_ARGS
    from buzzline.io.broker import free_port
    from buzzline.web import audience as page_routes

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=page_routes.routes()), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    serving = asyncio.create_task(server.serve())
    errs: list[float] = []
    bounds: list[float] = []
    readings: list[float] = []
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                opened = []
                for i in range(pages):
                    page = await (await browser.new_context()).new_page()
                    await page.goto(f"http://127.0.0.1:{port}/audience/?code={CODE}")
                    await page.fill("#nick", f"browser{i}")
                    await page.click("#join-btn")
                    await page.wait_for_function("() => window.buzzlineAudience.clock.ready", timeout=30000)
                    opened.append(page)
                await asyncio.sleep(1.0)  # every burst done
                for _ in range(100):
                    for page in opened:
                        before = show_clock_us()
                        now, bound = await page.evaluate(
                            "() => { const s = window.buzzlineAudience; const n = performance.now() * 1000;"
                            " const e = s.clock.estimate(n); return [n + e.offset, e.bound]; }"
                        )
                        after = show_clock_us()
                        errs.append(now - (before + after) / 2)
                        bounds.append(bound)
                        readings.append((after - before) / 2)
                    await asyncio.sleep(0.05)
            finally:
                await browser.close()
    finally:
        server.should_exit = True
        await serving
    covered = sum(1 for e, b, r in zip(errs, bounds, readings, strict=True) if abs(e) <= b + r)
    # a reading is only as sharp as the round trip into the page that took it: keep the sharpest
    # fifth (the machine is shared; a reading that waited for a core says nothing of the clock)
    cut = percentile(readings, 20)
    sharp = [abs(e) for e, r in zip(errs, readings, strict=True) if r <= cut]
    return {
        "pages": pages,
        "abs_error_ms": {
            "p50": round(percentile(sharp, 50) / 1000, 3),
            "p99": round(percentile(sharp, 99) / 1000, 3),
            "readings": len(sharp),
            "reading_halfwidth_max_ms": round(cut / 1000, 3),
        },
        "abs_error_all_readings_ms_p99": round(percentile([abs(e) for e in errs], 99) / 1000, 3),
        "bound_ms_p99": round(percentile(bounds, 99) / 1000, 3),
        "reading_halfwidth_ms_p99": round(percentile(readings, 99) / 1000, 3),
        "covered_by_bound": f"{covered}/{len(errs)}",
    }


def print_report(out: dict[str, Any]) -> None:
    a = out["answers"]
    print(f"audience: {out['clients']} clients on {out['nodes']} nodes (joined in {out['join_all_s']} s)")
    f, r = out["fanout_ms"], out["fanout_read_ms"]
    print(f"  fan-out question -> phones' sockets: p50 {f['p50']} ms, p99 {f['p99']} ms (n={f['n']})")
    print(f"  ... -> read by the simulator: p50 {r['p50']} ms, p99 {r['p99']} ms")
    print(f"  answers: {a['accepted_total']} accepted, {a['lost']} lost, {a['doubled']} doubled")
    print(f"  close -> results published: {out['close_to_results_published_ms']} ms")
    k = out["node_kill"]
    if k.get("node"):
        moved, longest = k["members_moved"], k["longest_outage_s"]
        print(f"  {k['node']} killed: {moved} members moved, longest outage {longest} s")
    if "browser_clock" in out:
        b = out["browser_clock"]
        print(f"  Chromium clock error: p99 {b['abs_error_ms']['p99']} ms (bound p99 {b['bound_ms_p99']} ms)")
