"""`buzzline bench fairness-live`: close races through real Mosquitto and the real host process.

Simulated podiums (``VirtualPodium``: offset, skewed clocks, the real protocol) each reach the
broker through their own ``DelayProxy``, which gives their link the profile's one-way delays per
direction (per group), congestion bursts and retransmissions; the relays run in a process of
their own (``sim.relayproc``) so that the podiums' work does not delay them. The host runs as
its own process (``buzzline host``), driven over its operator API. Every race presses 2..N podiums at planned
instants on the machine's monotonic clock (the host's clock too), so the true order is known;
a podium stamps its press late by the profile's capture latency. After the run the host's event
log gives, for every press, its mapped time, bound and arrival, and every decision: the same
``score`` as ``bench fairness`` then prints the same keys, with ``arrival_order`` (first buzz to
reach the host) and ``fixed_window`` (buzzes within 100 ms of the first, ordered by podium time
plus the offset of the podium's fastest recent sync exchange) on the same presses.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from typing import Any

from buzzline.benchmarks.fairness import BUCKETS, _bucket, _table, by_board, explain_lines, score
from buzzline.errors import UserError
from buzzline.hosttime import now_us
from buzzline.sim.netmodel import Profile, ProfileError, burst_us, capture_us, gap_us, load_profile
from buzzline.sim.podium import VirtualPodium
from buzzline.sim.precise import PreciseTimer
from buzzline.sim.races import FIXED_WINDOW_US, Outcome, RaceResult, declared_cap
from buzzline.sim.relayproc import RelayProcess

NAME = "fairness-live"
HELP = "close races through real Mosquitto and the real host process, with a profile's delays"
STUDIO = "fairlive"
START_S = 60.0  # every podium online with a trusted clock by then, or the run stops
SETTLE_S = 0.8  # after the last press: in-flight buzzes arrive (and may overturn) before judging
JUDGE_TRIES = 50  # then judge, retried every 0.1 s while the host has no decision yet


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--profile", default="wifi", help="profile name in bench/profiles or a .toml path")
    p.add_argument("--podiums", type=int, default=8)
    p.add_argument("--races", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--warmup", type=float, default=20.0, help="seconds of clock sync and heartbeats first")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log", dest="log_path", default=None, help="keep the host's event log here")
    p.add_argument(
        "--explain",
        metavar="FILE",
        help="one JSON line per wrong, tie, overturned, timeout or uncovered race",
    )
    p.add_argument(
        "--asymmetry",
        type=float,
        default=None,
        help="the host's path asymmetry allowance (show rule), 0..1 (default: by each path)",
    )


class LivePodium(VirtualPodium):
    """A virtual podium that presses at planned instants, announces its board's capture bound,
    keeps its own sync samples (for ``fixed_window``), and sends a press ahead of anything it
    stamps later, its lock acknowledgement included (the firmware's ordering)."""

    def __init__(
        self, *args: Any, timer: PreciseTimer, board: str = "sim", cap: list[int] | None = None, **kw: Any
    ) -> None:
        super().__init__(*args, **kw)
        self.timer = timer  # asyncio.sleep would fire a press up to 1 ms late
        self.board = board
        self.cap = cap
        self.naive: list[tuple[int, int]] = []  # (round trip, offset) of recent exchanges
        self._planned: dict[int, tuple[int, bool]] = {}  # id -> (stamp host µs, sent)

    def _queue_up(self, msg: dict[str, Any], front: bool = False) -> None:
        if msg is not None and msg["t"] != "buzz":
            # A press captured before now goes out before anything stamped later (the firmware's
            # IRQ queues it at once); a busy event loop must not let a heartbeat or an
            # acknowledgement overtake it, whichever path queues them.
            self._fire_due_now()
        super()._queue_up(msg, front)

    async def _send_up(self, msg: dict[str, Any]) -> None:
        if msg["t"] == "hello" and self.board != "sim":
            msg = {**msg, "board": self.board}
            if self.cap is not None:
                msg["cap"] = self.cap
        await super()._send_up(msg)

    def _on_syncr(self, msg: dict[str, Any], t4: int) -> None:
        super()._on_syncr(msg, t4)
        prev = self._sync_prev
        if prev is not None and prev[0] == msg["n"]:
            _n, t1, t2, t3, t4 = prev
            self.naive.append(((t4 - t1) - (t3 - t2), ((t2 - t1) + (t3 - t4)) // 2))
            del self.naive[:-8]

    def naive_offset(self) -> int:
        return min(self.naive)[1] if self.naive else 0

    def plan(self, key: int, stamp_us: int) -> None:
        """The button will be pressed (and stamped) at host µs ``stamp_us``; registered at once,
        so whatever this podium sends after that instant goes out behind the press."""
        self._planned[key] = (stamp_us, False)

    async def press_at(self, key: int, stamp_us: int) -> None:
        await self.timer.sleep_until(stamp_us / 1e6)  # now_us is time.monotonic in µs
        await self._fire(key)

    async def _fire(self, key: int) -> None:
        self._fire_now(key)

    def _fire_now(self, key: int) -> None:
        stamp, sent = self._planned.pop(key, (0, True))
        if not sent:
            self.press_now(self.clock.at(stamp))

    def _fire_due_now(self) -> None:
        now = now_us()
        for key, (stamp, _sent) in sorted(self._planned.items(), key=lambda kv: kv[1][0]):
            if stamp <= now:
                self._fire_now(key)


@dataclass
class _Race:
    index: int
    start_us: int
    true_us: dict[str, int]
    capture_us: dict[str, int]
    naive: dict[str, int]  # podium -> offset fixed_window uses
    end_us: int = 0
    detail: dict[str, Any] = field(default_factory=dict)


async def _run(args: argparse.Namespace, prof: Profile, broker: Any, api: str, token: str) -> list[_Race]:
    import httpx

    rng = random.Random(args.seed)
    n = args.podiums
    pids = [f"p{i + 1}" for i in range(n)]
    groups = [prof.group_of(i % prof.podiums) for i in range(n)]
    links = []  # each podium's path: its floors' asymmetry and its own random stream
    for i, g in enumerate(groups):
        links.append({"index": i, "asym": rng.uniform(-g.asymmetry, g.asymmetry), "seed": rng.random()})
    caps = {g.name: declared_cap(g.capture) for g in prof.groups}
    races: list[_Race] = []
    async with contextlib.AsyncExitStack() as stack:
        timer = PreciseTimer()
        stack.callback(timer.close)
        # the relays in a process of their own: the podiums' work must not delay the network
        relays = await stack.enter_async_context(RelayProcess(broker.host, broker.port, args.profile, links))
        pods: list[LivePodium] = []
        for pid, g, port in zip(pids, groups, relays.ports, strict=True):
            lo, hi = prof.offset_s
            board = "sim" if g.capture.board == "none" else g.capture.board
            cap = [caps[g.name], caps[g.name]] if g.capture.declare else None
            pod = LivePodium(
                pid, "127.0.0.1", port, STUDIO,
                offset_us=rng.randint(int(lo * 1e6), int(hi * 1e6)),
                skew_ppm=rng.uniform(-prof.skew_ppm, prof.skew_ppm),
                rng=random.Random(rng.random()), board=board, cap=cap, timer=timer,
            )  # fmt: skip
            pods.append(await stack.enter_async_context(pod))
        async with httpx.AsyncClient(
            base_url=api, headers={"authorization": f"Bearer {token}"}, timeout=10
        ) as http:

            async def cmd(name: str, **a: Any) -> bool:
                r = await http.post("/api/command", json={"name": name, "args": a})
                return r.status_code < 400 and bool(r.json().get("ok", True))

            ok: set[str] = set()
            try:
                async with asyncio.timeout(START_S):  # every podium online with a trusted clock
                    while not ok >= set(pids):
                        st = (await http.get("/api/state")).json()
                        ok = {q["podium"] for q in st["podiums"] if q["online"] and q["clock_trusted"]}
                        await asyncio.sleep(0.2)
            except TimeoutError:
                missing = ", ".join(p for p in pids if p not in ok)
                raise UserError(
                    "bench fairness-live",
                    f"{missing} not online with a trusted clock after {START_S:.0f} s",
                    "their clock bounds stayed over 2 ms: GET /api/state on the host shows each one",
                ) from None
            await asyncio.sleep(args.warmup)  # sync settles, heartbeats give the delay book samples
            for i in range(args.races):
                await relays.set_bursts([burst_us(g.congestion, rng) for g in groups])
                await cmd("read")
                start = now_us()
                await cmd("arm")
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(5):
                        while any(p.light.pattern != "armed" for p in pods):
                            await asyncio.sleep(0.005)
                k = rng.randint(2, n)
                pressers = rng.sample(range(n), k)
                t = now_us() + rng.randrange(100_000, 400_000)
                true_us: dict[str, int] = {}
                late: dict[str, int] = {}
                for j, idx in enumerate(pressers):
                    if j:
                        t += gap_us(prof, rng)
                    true_us[pids[idx]] = t
                    late[pids[idx]] = capture_us(rng, groups[idx].capture)
                race = _Race(i, start, true_us, late, {pids[x]: pods[x].naive_offset() for x in pressers})
                for j, p in enumerate(true_us):
                    pods[pids.index(p)].plan(i * 64 + j, true_us[p] + late[p])
                tasks = [
                    asyncio.create_task(pods[pids.index(p)].press_at(i * 64 + j, true_us[p] + late[p]))
                    for j, p in enumerate(true_us)
                ]
                await asyncio.gather(*tasks)
                await asyncio.sleep(SETTLE_S)
                # a host slowed by a loaded machine may decide after the settle time: judging
                # before it would leave the question open into the next race (whose presses then
                # meet a reopened window that excludes this winner)
                for _ in range(JUDGE_TRIES):
                    if await cmd("judge", correct=True):
                        break
                    await asyncio.sleep(0.1)
                await cmd("next")
                race.end_us = now_us()
                races.append(race)
    return races


def _score_races(
    races: list[_Race], log_path: str, pods_board: dict[str, str]
) -> tuple[list[RaceResult], int]:
    """Join the planned races with what the host logged: presses (mapped, bound, arrival) and decisions."""
    from buzzline.io.eventlog import EventLog

    presses: list[dict[str, Any]] = []
    decisions: list[dict[str, Any]] = []
    with EventLog(log_path, readonly=True) as log:
        for r in log.records(kinds=["input", "decision"]):
            if r.kind == "input" and r.data.get("type") == "PodiumPress":
                presses.append(r.data["event"])
            elif r.kind == "decision":
                decisions.append(r.data["decision"])
    results: list[RaceResult] = []
    lost = 0
    for race in races:
        mine = [
            p
            for p in presses
            if race.start_us <= p["arrival_us"] < race.end_us and p["podium"] in race.true_us
        ]
        ds = [d for d in decisions if race.start_us <= d["decided_us"] < race.end_us]
        truth = tuple(sorted(race.true_us, key=lambda p: race.true_us[p]))
        first = race.true_us[truth[0]]
        if not mine or not ds:
            lost += 1
            continue
        d0, dn = ds[0], ds[-1]
        buzz = Outcome(
            dn["winner"], len(dn["tied"]) > 1, d0["decided_us"] - first, frozenset(dn["flags"]), len(ds) > 1
        )
        arrived = sorted(mine, key=lambda p: p["arrival_us"])
        a0 = arrived[0]["arrival_us"]
        window = [p for p in arrived if p["arrival_us"] <= a0 + FIXED_WINDOW_US]
        fw = min(window, key=lambda p: (p["podium_us"] + race.naive[p["podium"]], p["podium"]))
        errs, covered = [], 0
        for p in mine:
            t = race.true_us[p["podium"]]
            # the clock part: the host centred the mapping on the capture interval (cap_us back)
            clock_mapped = p["mapped_us"] + p.get("cap_us", 0)
            errs.append(abs(clock_mapped - (t + race.capture_us[p["podium"]])))
            covered += abs(p["mapped_us"] - t) <= p["err_us"]
        race.detail = {
            "race": race.index,
            "truth": list(truth),
            "gap_us": race.true_us[truth[1]] - first,
            "presses": [
                {
                    **p,
                    "true_us": race.true_us[p["podium"]],
                    "capture_us": race.capture_us[p["podium"]],
                    "covered": abs(p["mapped_us"] - race.true_us[p["podium"]]) <= p["err_us"],
                }
                for p in mine
            ],
            "decisions": ds,
        }
        results.append(
            RaceResult(
                truth=truth,
                gap_us=race.true_us[truth[1]] - first,
                buzzline=buzz,
                arrival_order=Outcome(arrived[0]["podium"], False, a0 - first),
                fixed_window=Outcome(fw["podium"], False, a0 + FIXED_WINDOW_US - first),
                clock_errors_us=errs,
                covered=covered,
                boards="/".join(sorted(pods_board[p] for p in truth[:2])),
                detail=race.detail,
            )
        )
    return results, lost


def _share_ok(a: float | None) -> bool:
    return a is None or 0 <= a <= 1


def run(args: argparse.Namespace) -> int:
    from buzzline.commands.host import command_line
    from buzzline.io.broker import MosquittoBroker, free_port, wait_for_port

    if args.races < 1 or not 2 <= args.podiums <= 64 or args.warmup < 0 or not _share_ok(args.asymmetry):
        print(
            "buzzline bench fairness-live: need --races >= 1, --podiums 2..64, --warmup >= 0,"
            " --asymmetry 0..1",
            file=sys.stderr,
        )
        return 2
    try:
        prof = load_profile(args.profile)
    except ProfileError as exc:
        print(f"buzzline bench fairness-live: {exc}", file=sys.stderr)
        return 2
    boards = {f"p{i + 1}": prof.group_of(i % prof.podiums).capture.board for i in range(args.podiums)}
    with MosquittoBroker() as broker, tempfile.TemporaryDirectory() as tmp:
        api_port = free_port()
        token = "bench-" + os.urandom(4).hex()
        log_path = args.log_path or os.path.join(tmp, "live.db")
        show = os.path.join(tmp, "show.toml")
        with open(show, "w", encoding="utf-8") as f:
            f.write('[show]\ntitle = "fairness-live"\nassign_on_hello = true\n\n')
            if args.asymmetry is not None:
                f.write(f"[rules]\npath_asymmetry_pct = {round(args.asymmetry * 100)}\n")
        argv = command_line(broker.address, STUDIO, http=api_port, token=token, log=log_path)
        host = subprocess.Popen([*argv, "--show", show], stdout=subprocess.DEVNULL)
        try:
            wait_for_port("127.0.0.1", api_port, timeout=20)
            races = asyncio.run(_run(args, prof, broker, f"http://127.0.0.1:{api_port}", token))
        finally:
            host.send_signal(signal.SIGINT)
            try:
                host.wait(10)
            except subprocess.TimeoutExpired:
                host.kill()
                host.wait(5)
        results, lost = _score_races(races, log_path, boards)
    if args.explain:
        text = "\n".join(explain_lines(results))
        with open(args.explain, "w", encoding="utf-8") as f:
            f.write(text + "\n" if text else "")
    report: dict[str, Any] = {
        "profile": prof.name,
        "seed": args.seed,
        "trials": len(results),
        "podiums": args.podiums,
        "host_asymmetry": "auto" if args.asymmetry is None else round(args.asymmetry * 100) / 100,
        "lost": lost,
        "races_by_gap_ms": {
            label: sum(1 for r in results if _bucket(r.gap_us) == label) for label, _, _ in BUCKETS
        },
        "systems": score(results),
        "by_board": by_board(results),
        "resolved": prof.describe(),
    }
    print(json.dumps(report) if args.json else _table(report) + f"\nlost (no decision logged): {lost}")
    return 0 if lost == 0 else 1
