"""`buzzline bench e2e`: press-to-lockout and press-to-decision through a real Mosquitto,
against a bare relay on the same broker and podiums, in the same run.

Processes (see `_procs`): a private Mosquitto, the host (`_host_proc`: the real ``HostService``
with its event log), the bare relay (`_relay`) and the simulated podiums (`_podium_worker`,
the real protocol, every podium in its settling clock sync). Presses alternate, in a rotating
order, between the host (``plain``), the relay (the host unsubscribed meanwhile) and, with
``--slow-adapter``, the host with four adapters that sleep 200 ms over every notice.

Per press: ``lockout_ms`` from the buzz publish to the last podium receiving its lock,
``first_podium_lock_ms`` to the first, ``decided_ms`` to the winner's podium receiving the winner
light. ``host_us``: inside the host, from the buzz read off the socket to the lock handed to it
(`buzzline.lock_trace`), with the median of each stage.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from buzzline.benchmarks._procs import LineProc, Workers, broker_rtt
from buzzline.benchmarks._stats import p50_p99, percentile
from buzzline.io import priority
from buzzline.lock_trace import AFTER, MARKS, STAGES

NAME = "e2e"
HELP = "end-to-end latency of lockout and decision through a real broker, against a bare relay"

RELAY_EP = 1 << 40  # the relay's epochs, far from the host's
SLOW_ADAPTERS = 4
SLOW_SLEEP_MS = 200


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=16)
    p.add_argument("--presses", type=int, default=500, help="presses per mode (host, relay, slow)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--workers", type=int, default=2, help="processes the simulated podiums are spread over")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log", dest="log_path", default=None, help="host event log (default: a temp file)")
    p.add_argument("--profile-host", metavar="FILE", help="run the host under cProfile, stats to FILE")
    p.add_argument("--no-relay", dest="relay", action="store_false", help="skip the bare relay")
    p.add_argument("--lock-after-fsync", action="store_true", help="host: locks after the fsync")
    p.add_argument("--fsync-inline", action="store_true", help="host: fsync on the loop thread")
    p.add_argument("--lock-behind-acks", action="store_true", help="host: lock after queued PUBACKs")
    p.add_argument(
        "--audience",
        type=int,
        default=0,
        metavar="N",
        help="N simulated phones answering through the host's audience adapter",
    )
    p.add_argument(
        "--audience-apart", action="store_true", help="with --audience: the adapter in a process of its own"
    )
    p.add_argument(
        "--audience-nice",
        type=priority.level,
        default=0,
        metavar="N|idle",
        help="with --audience: phones and nodes at this nice level, or idle (SCHED_IDLE), as if on"
        " machines of their own",
    )
    p.add_argument(
        "--audience-compare",
        action="store_true",
        help="with --audience: runs side by side: no audience; the show on one CPU and the"
        " audience's phones and nodes on the other, the adapter in the host, then apart; the"
        " audience at --audience-nice (idle unless given) on both CPUs, in the host, then apart;"
        " everything at nice 0",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        metavar="N",
        help="with --audience-compare: the runs N times over, in turn (a machine's noise moves between"
        " runs; the same noise in every kind of run is what makes them comparable)",
    )
    p.add_argument(
        "--slow-adapter",
        action="store_true",
        help=f"also press with {SLOW_ADAPTERS} adapters sleeping {SLOW_SLEEP_MS} ms per notice",
    )


class BenchError(RuntimeError):
    """A run that could not be carried out (the machine too busy to bring every podium up...)."""


@dataclass
class Series:
    lockout: list[float] = field(default_factory=list)
    first: list[float] = field(default_factory=list)
    decided: list[float] = field(default_factory=list)
    lost: int = 0


def host_figures(locks: list[dict[str, Any]]) -> dict[str, Any]:
    """``host_us`` p50/p99/max over the lock records, and each stage's median (microseconds)."""
    if not locks:
        return {"n": 0}
    marks = (*MARKS, "sock")
    total = [r["sock"] - r["read"] for r in locks]
    stages = {s: percentile([r[marks[i + 1]] - r[marks[i]] for r in locks], 50) for i, s in enumerate(STAGES)}
    return {
        "n": len(locks),
        "p50": percentile(total, 50),
        "p99": percentile(total, 99),
        "max": max(total),
        "stages_p50": stages,
        "send_us": p50_p99([r["sent"] - r["sock"] for r in locks], 0),
        # dequeued -> sock: wall time, and CPU time of the host's thread (the rest: no core free)
        "handled_us": p50_p99([r["sock"] - r["dequeued"] for r in locks], 0),
        "handled_cpu_us": p50_p99([r["cpu"] for r in locks], 0),
        "queued_ahead": p50_p99([r.get("ahead", 0) for r in locks], 0),  # packets before the lock
        # the share of locks whose send() came before their batch's fsync started
        "lock_before_fsync": round(sum(r["sock"] <= r["fsync_at"] for r in synced) / len(synced), 3)
        if (synced := [r for r in locks if "fsync_at" in r])
        else None,
        "after_lock_us": {k: percentile([r[k] for r in locks if k in r], 50) for k in AFTER},
    }


class Bench:
    def __init__(self, args: argparse.Namespace, host: LineProc, relay: LineProc | None, workers: Workers):
        self.args = args
        self.host = host
        self.relay = relay
        self.workers = workers
        self.pids = [f"b{i + 1:02d}" for i in range(args.podiums)]
        self.rng = random.Random(args.seed)
        self.unheard = 0  # relay presses after which some podium was not heard again within 5 s

    async def collect(self, until: Any, timeout: float) -> bool:
        try:
            async with asyncio.timeout(timeout):
                while not until(await self.workers.events.get()):
                    pass
            return True
        except TimeoutError:
            return False

    async def press_and_time(self, epoch: int, winner_light: bool, into: Series) -> None:
        """After an idle gap, one podium presses; its lock (and winner light) are timed."""
        presser = self.rng.choice(self.pids)
        await asyncio.sleep(self.rng.uniform(0.005, 0.03))
        self.workers.press(presser)
        t0: list[int] = []
        locks: dict[str, int] = {}
        won: list[int] = []

        def done(ev: list[str]) -> bool:
            if ev[0] == "press":
                t0.append(int(ev[2]))
            elif ev[0] == "lock" and int(ev[2]) == epoch:
                locks.setdefault(ev[1], int(ev[3]))
            elif ev[0] == "light" and ev[1] == presser and ev[2] == "winner":
                won.append(int(ev[3]))
            return bool(t0) and len(locks) == len(self.pids) and (bool(won) or not winner_light)

        if not await self.collect(done, 3):
            into.lost += 1
            return
        into.lockout.append((max(locks.values()) - t0[0]) / 1000)
        into.first.append((min(locks.values()) - t0[0]) / 1000)
        if winner_light:
            into.decided.append((won[0] - t0[0]) / 1000)

    async def armed(self, light: bool) -> int | None:
        """Every podium armed: the epoch (from the arm command), or None after 5 s."""
        armed: set[str] = set()
        epochs: set[int] = set()

        def all_armed(ev: list[str]) -> bool:
            if ev[0] == "arm":
                epochs.add(int(ev[2]))
                if not light:
                    armed.add(ev[1])
            elif light and ev[0] == "light" and ev[2] == "armed":
                armed.add(ev[1])
            return armed >= set(self.pids) and bool(epochs)

        return max(epochs) if await self.collect(all_armed, 5) else None

    async def host_press(self, into: Series, slow: bool) -> None:
        ask = self.host.ask
        if slow:
            await ask(f"adapters {SLOW_ADAPTERS} {SLOW_SLEEP_MS}")
        self.workers.drain()
        await ask("cmd read")
        await ask("cmd arm")
        epoch = await self.armed(light=True)
        if epoch is None:
            into.lost += 1
        else:
            await self.press_and_time(epoch, True, into)
        await ask('cmd judge {"correct": true}')
        await ask("cmd next")
        if slow:
            await ask("adapters 0 0")

    async def relay_press(self, n: int, into: Series) -> None:
        assert self.relay is not None
        await self.host.ask("pause")
        self.workers.drain()
        ep = RELAY_EP + n
        await self.relay.ask(f"arm {ep}")
        if await self.armed(light=False) is None:
            into.lost += 1
        else:
            await self.press_and_time(ep, False, into)
        with contextlib.suppress(TimeoutError):  # a lost press: the next arm starts afresh
            await self.relay.expect("locked", 3)
        await self.host.ask("resume")
        # The host missed these podiums' messages: let each be heard now, so the sequence gap is
        # seen between questions, not as a possibly lost buzz in the next one (the arbiter would
        # rightly wait for it).
        self.workers.beat()
        try:
            async with asyncio.timeout(5):
                while not (await self.host.ask(f"heard {len(self.pids)}")).startswith("ok"):
                    await asyncio.sleep(0.002)
        except TimeoutError:
            self.unheard += 1

    async def run(self) -> dict[str, Any]:
        a = self.args
        reply = "wait 0"
        try:
            async with asyncio.timeout(60):  # until the host knows every podium with a trusted clock
                while not (reply := await self.host.ask(f"ready {len(self.pids)}")).startswith("ok"):
                    await asyncio.sleep(0.1)
        except TimeoutError:
            n = reply.split()[-1]
            raise BenchError(f"the host trusted {n} of {len(self.pids)} podium clocks after 60 s") from None
        modes = ["plain"] + (["relay"] if self.relay else []) + (["slow"] if a.slow_adapter else [])
        series = {m: Series() for m in modes}
        cpu0 = [float(x) for x in (await self.host.ask("cpu")).split()[1:]]
        for i in range(a.presses):
            k = i % len(modes)
            for mode in modes[k:] + modes[:k]:
                if mode == "relay":
                    await self.relay_press(i, series[mode])
                else:
                    await self.host_press(series[mode], slow=mode == "slow")
        cpu1 = [float(x) for x in (await self.host.ask("cpu")).split()[1:]]
        report = json.loads((await self.host.ask("report")).split(" ", 1)[1])
        if os.environ.get("BENCH_DUMP"):
            with open(os.environ["BENCH_DUMP"], "w") as f:
                json.dump({**report, "series": {m: vars(x) for m, x in series.items()}}, f)
        plain = series["plain"]
        out: dict[str, Any] = {
            "podiums": a.podiums,
            "presses": a.presses,
            "lockout_ms": p50_p99(plain.lockout),
            "decided_ms": p50_p99(plain.decided),
            "lost": plain.lost,
            "first_podium_lock_ms": p50_p99(plain.first),
            "host_us": host_figures([r for r in report["locks"] if r["tag"] == ""]),
            "host_cpu": round((cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1]), 3),
        }
        if "relay" in series:
            bare = series["relay"]
            out["bare_relay"] = {
                "lockout_ms": p50_p99(bare.lockout),
                "first_podium_lock_ms": p50_p99(bare.first),
                "lost": bare.lost,
                "unheard": self.unheard,
            }
            out["ratio"] = {
                "lockout_p50": _ratio(out["lockout_ms"]["p50"], out["bare_relay"]["lockout_ms"]["p50"]),
                "lockout_p99": _ratio(out["lockout_ms"]["p99"], out["bare_relay"]["lockout_ms"]["p99"]),
                "first_lock_p50": _ratio(
                    out["first_podium_lock_ms"]["p50"], out["bare_relay"]["first_podium_lock_ms"]["p50"]
                ),
            }
        if "slow" in series:
            slow = series["slow"]
            out["slow_adapter"] = {
                "decided_ms": p50_p99(slow.decided),
                "lockout_ms": p50_p99(slow.lockout),
                "drops": report["adapter_drops"],
                "lost": slow.lost,
                "host_us": host_figures([r for r in report["locks"] if r["tag"] == "slow"]),
            }
        return out


def _ratio(a: float, b: float) -> float:
    return round(a / b, 2) if b > 0 else float("nan")


async def measure(
    args: argparse.Namespace, broker_host: str, broker_port: int, tmp: str, rtt_probes: int = 300
) -> dict[str, Any]:
    """One run: start the host, the relay and the podiums, press, stop them; the figures."""
    studio = "bench"
    where = ["--host", broker_host, "--port", str(broker_port), "--studio", studio]
    probes = min(rtt_probes, 20 * args.presses)
    rtt = await broker_rtt(broker_host, broker_port, probes, random.Random(args.seed + 1)) if probes else []
    host = LineProc("host")
    relay = LineProc("relay") if args.relay else None
    workers = Workers()
    log = args.log_path or os.path.join(tmp, "bench.db")
    prof = ["-m", "cProfile", "-o", args.profile_host] if args.profile_host else []
    from buzzline.benchmarks._audience_load import audience_load  # the NATS client only when asked

    stack = contextlib.AsyncExitStack()
    try:
        knobs = ["--lock-after-fsync"] * args.lock_after_fsync + ["--fsync-inline"] * args.fsync_inline
        knobs += ["--lock-behind-acks"] * getattr(args, "lock_behind_acks", False)
        audience = await stack.enter_async_context(
            audience_load(
                getattr(args, "audience", 0),
                getattr(args, "audience_nice", 0),
                getattr(args, "audience_cpus", None),
            )
        )
        apart = getattr(args, "audience_apart", False)
        knobs += ["--audience", audience.adapter_settings()] if audience and not apart else []
        await host.start("buzzline.benchmarks._host_proc", [*where, "--log", log, *knobs], prof)
        if audience is not None:
            if apart:
                await audience.start_apart(f"{broker_host}:{broker_port}", studio)
            await audience.start_members(args.seed)
        if relay is not None:
            await relay.start("buzzline.benchmarks._relay", where)
        pids = [f"b{i + 1:02d}" for i in range(args.podiums)]
        await workers.start(broker_host, broker_port, studio, pids, min(args.workers, len(pids)), args.seed)
        out = await Bench(args, host, relay, workers).run()
        if audience is not None:
            out["audience"] = await audience.report()
    except TimeoutError:
        raise BenchError("a process of the benchmark did not answer in time (machine overloaded?)") from None
    finally:
        await workers.stop()
        if relay is not None:
            await relay.stop()
        await host.stop()
        await stack.aclose()
    if rtt:
        out["broker_rtt_ms"] = p50_p99(rtt)
    return out


def run(args: argparse.Namespace) -> int:
    from buzzline.errors import UserError

    if args.podiums < 1 or args.presses < 1 or args.workers < 1:
        raise UserError("bench e2e", "--podiums, --presses and --workers must be at least 1")
    if args.rounds != 1 and not getattr(args, "audience_compare", False):
        raise UserError("bench e2e", "--rounds goes with --audience-compare")
    if getattr(args, "audience_compare", False):
        if args.audience <= 0:
            raise UserError("bench e2e", "--audience-compare needs --audience N", "e.g. --audience 2000")
        if args.rounds < 1:
            raise UserError("bench e2e", "--rounds must be at least 1")
        return _compare(args)
    result = _measure_once(args)
    if result is None:
        return 1
    if args.json:
        print(json.dumps(result))
    else:
        print_result(result)
    parts = (result, result.get("bare_relay", {}), result.get("slow_adapter", {}))
    lost = sum(s.get("lost", 0) for s in parts)
    return 0 if lost == 0 else 1


def _measure_once(args: argparse.Namespace) -> dict[str, Any] | None:
    """One run on a broker of its own; None (said on stderr) when it could not be carried out.
    ``args.show_cpus``: the broker, the host and the podiums on those CPUs only."""
    from buzzline.io.broker import MosquittoBroker

    with (
        priority.pinned(getattr(args, "show_cpus", None)),
        MosquittoBroker() as broker,
        tempfile.TemporaryDirectory() as tmp,
    ):
        try:
            return asyncio.run(measure(args, broker.host, broker.port, tmp))
        except BenchError as e:
            print(f"buzzline: bench e2e: {e}", file=sys.stderr)
            return None


def _compare(args: argparse.Namespace) -> int:
    """The podium path alone, then beside the audience: its phones and nodes on a CPU of their
    own with the show on the other (the nearest this machine comes to other machines), then
    sharing both CPUs but yielding them (SCHED_IDLE or a nice level), then unpinned: one table."""
    nice = args.audience_nice or priority.IDLE
    aside = priority.describe(nice)
    n = args.audience
    cpus = sorted(os.sched_getaffinity(0))
    show, crowd = ({cpus[0]}, set(cpus[1:])) if len(cpus) > 1 else (None, None)
    # (name, members, level, apart, show's CPUs, the audience's CPUs)
    runs: list[tuple[str, int, priority.Level, bool, set[int] | None, set[int] | None]] = [
        ("no audience", 0, 0, False, None, None)
    ]
    if show is not None:
        where = f"show on CPU {cpus[0]}, the rest on {','.join(map(str, sorted(crowd or ())))}"
        runs += [
            (f"no audience, {where}", 0, 0, False, show, None),
            (f"adapter in host, {where}", n, 0, False, show, crowd),
            (f"adapter apart, {where}", n, 0, True, show, crowd),
        ]
    runs += [
        (f"adapter in host, phones+nodes {aside}", n, nice, False, None, None),
        (f"adapter apart, it+phones+nodes {aside}", n, nice, True, None, None),
        ("adapter in host, all at nice 0", n, 0, False, None, None),
    ]
    rows = []
    for rnd, (name, members, level, apart, on, off) in [
        (r + 1, run) for r in range(args.rounds) for run in runs
    ]:
        one = argparse.Namespace(**vars(args))
        one.audience, one.audience_nice, one.audience_compare = members, level, False
        one.audience_apart, one.show_cpus, one.audience_cpus = apart, on, off
        load = os.getloadavg()[0]
        r = _measure_once(one)
        if r is None:
            return 1
        row: dict[str, Any] = {"run": name, "round": rnd, "audience": members, "nice": level, "apart": apart}
        row |= {"show_cpus": sorted(on) if on else None, "audience_cpus": sorted(off) if off else None}
        row["load_before"] = round(load, 2)
        row |= {k: r[k] for k in ("lockout_ms", "decided_ms", "lost", "host_cpu") if k in r}
        h = r.get("host_us", {})
        # the host's own lock path: wall time from dequeue to socket, and its thread's CPU time
        # in it (what a busy loop or a busy core adds is the difference)
        row["host_handled_us"] = h.get("handled_us")
        row["host_handled_cpu_us"] = h.get("handled_cpu_us")
        row["load_after"] = round(os.getloadavg()[0], 2)
        if "audience" in r:
            row["audience_report"] = r["audience"]
        rows.append(row)
    if args.json:
        print(json.dumps({"compare": rows}))
    else:
        print(
            f"e2e: {args.podiums} podiums, {args.presses} presses a run; lockout and decided, p50 / p99 ms;"
            " host lock path wall / CPU, p99 us"
        )
        for row in rows:
            lo, de = row["lockout_ms"], row["decided_ms"]
            hw, hc = row.get("host_handled_us") or {}, row.get("host_handled_cpu_us") or {}
            print(
                f"  {row['round']} {row['run']:58s} lockout {lo['p50']:7.2f} / {lo['p99']:7.2f}   decided"
                f" {de['p50']:7.2f} / {de['p99']:7.2f}   host {hw.get('p99', '-')} / {hc.get('p99', '-')}"
                f"   lost {row['lost']}   load {row['load_before']}"
            )
    return 0 if all(row.get("lost", 0) == 0 for row in rows) else 1


def print_result(r: dict[str, Any]) -> None:
    print(f"e2e: {r['podiums']} podiums, {r['presses']} presses per mode, lost {r['lost']}")
    rows = [("buzzline", r)]
    if "bare_relay" in r:
        rows.append(("bare relay", r["bare_relay"]))
    if "slow_adapter" in r:
        rows.append(("slow adapters", r["slow_adapter"]))
    for name, s in rows:
        for k in ("lockout_ms", "first_podium_lock_ms", "decided_ms"):
            if k in s:
                print(f"  {name:14s} {k:21s} p50 {s[k]['p50']:8.3f}   p99 {s[k]['p99']:8.3f}")
    h = r["host_us"]
    if h.get("n"):
        print(f"  host_us p50 {h['p50']:.0f}  p99 {h['p99']:.0f}  max {h['max']:.0f}")
        print(f"  host_us stages p50 {h['stages_p50']}  send() p50/p99 {h['send_us']}")
        print(f"  after the lock, p50: {h['after_lock_us']}")
        print(f"  dequeued -> sock: wall {h['handled_us']}, CPU {h['handled_cpu_us']}")
    print(f"  broker_rtt_ms p50 {r['broker_rtt_ms']['p50']:.3f}  host CPU {r['host_cpu']:.0%} of a core")
