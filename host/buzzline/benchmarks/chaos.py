"""`buzzline bench chaos`: do decisions survive a bad network and crashing parts?

Real processes: Mosquitto (restarted with and without persistence), `buzzline host` (SIGKILLed
and restarted on its event log), and virtual podiums in this process, each through its own
``FaultProxy`` (delay, jitter, loss, resets, blackholes; one podium's radio also goes deaf
for up to 2 s, about a tenth of the time, and what it sends meanwhile is held). The benchmark
plays questions over the operator API; in each, two to four podiums press at host instants it
chose, 15 ms or more apart, so it knows the true order. Faults strike mid-question: broker
kills, host kills, podium reboots (a crash, then a new boot), link resets and blackholes.

Afterwards the host's event log is the evidence (``_chaos_score``): a press is *lost* if the
host never took it in (nor recovered it from a lock acknowledgement), *doubled* if a decision
counts one podium twice, a decision is *wrong* if its final winner is not the first presser,
and *timeouts* counts questions decided at the bounded wait or not at all. ``recovery_s``: from
the broker's return (or the host's kill) until the host is connected, has heard every podium
again and trusts every podium's clock.

Over 400 lines: the fault schedule, the process supervision and the scoring against the true
press order are one experiment; splitting them would scatter its assumptions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buzzline.benchmarks._chaos_podiums import FirmwarePodium, SimPodium
from buzzline.benchmarks._chaos_score import TruePress, read_log, score
from buzzline.errors import UserError
from buzzline.hosttime import now_us

NAME = "chaos"
HELP = "decisions under network faults and crashing broker, host and podiums"
STUDIO = "chaos"
# the last podium's flaky radio: a deaf spell (its messages held) on average every 9 s, up to 2 s
# long (1 s on average): deaf about 10% of the time, whatever it sends
HOLD_EVERY_S = 9.0
HOLD_MAX_MS = 2000.0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--podiums", type=int, default=8)
    p.add_argument("--presses", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--broker-kills", type=int, default=3)
    p.add_argument("--host-kills", type=int, default=3)
    p.add_argument("--reboots", type=int, default=5, help="podium reboots")
    p.add_argument("--resets", type=int, default=6, help="link resets (TCP RST)")
    p.add_argument("--blackholes", type=int, default=2, help="links that go silent for 1.5-3 s")
    p.add_argument(
        "--link-down-presses",
        type=int,
        default=None,
        help="presses made while the podium's link is down (default: 3 with --firmware, else 0)",
    )
    p.add_argument(
        "--firmware",
        action="store_true",
        help="real firmware podiums (micropython unix port, 96 KB heap, the .mpy tree)",
    )
    p.add_argument(
        "--aim-host-kills",
        action="store_true",
        help="each host SIGKILL strikes 8-20 ms after the question's first planned press (a buzz"
        " read and not yet written: slow the host's log with --host-env to widen that moment)",
    )
    p.add_argument(
        "--host-env",
        action="append",
        type=_env_pair,
        default=[],
        metavar="NAME=VALUE",
        help="extra environment for the host process (repeatable), e.g. LD_PRELOAD of"
        " bench/slowwrite.c's library for a slow log disk",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--log", dest="log_path", default=None, help="host event log (default: a temp file)")
    p.add_argument("--workdir", default=None, help="keep the broker's files and the host's output here")


def _env_pair(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"{text!r}: expected NAME=VALUE")
    return name, value


@dataclass
class Fault:
    question: int
    kind: str  # broker, host, reboot, reset, blackhole, down (a racer presses with its link down)
    persistence: bool = True  # broker: restart with persistence


def plan(args: argparse.Namespace, rng: random.Random) -> tuple[list[int], list[Fault]]:
    """Racers per question (2-4, adding up to --presses), and which question each fault hits."""
    racers: list[int] = []
    while sum(racers) < args.presses:
        racers.append(min(rng.choice((2, 3, 4)), args.podiums, args.presses - sum(racers)))
    n = len(racers)
    faults: list[Fault] = []
    # process faults apart (four questions when there are enough), each recovery measured alone
    kinds = ["broker"] * args.broker_kills + ["host"] * args.host_kills
    rng.shuffle(kinds)
    slots = list(range(3, n - 1, 4))
    if len(kinds) > len(slots):
        slots = list(range(1, n))
    if len(kinds) > len(slots):
        raise UserError("--presses", f"{args.presses} presses are too few for {len(kinds)} process faults")
    rng.shuffle(slots)
    brokers = 0
    for kind, q in zip(kinds, sorted(slots[: len(kinds)]), strict=True):
        faults.append(Fault(q, kind, persistence=kind == "broker" and brokers % 2 == 0))
        brokers += kind == "broker"
    for kind, count in (("reboot", args.reboots), ("reset", args.resets), ("blackhole", args.blackholes)):
        faults += [Fault(rng.randrange(2, n), kind) for _ in range(count)]
    faults += [Fault(rng.randrange(2, n), "down") for _ in range(link_down_presses(args))]
    return racers, sorted(faults, key=lambda f: f.question)


def link_down_presses(args: argparse.Namespace) -> int:
    n = args.link_down_presses
    return int(n) if n is not None else (3 if args.firmware else 0)


class HostProcess:
    """`buzzline host` as a child process that can be killed and started again on its log."""

    def __init__(
        self,
        broker: str,
        log_path: str,
        api_port: int,
        token: str,
        out: Path,
        env: dict[str, str] | None = None,
    ) -> None:
        from buzzline.commands.host import command_line

        self.argv = command_line(broker, STUDIO, http=api_port, token=token, log=log_path)
        self.out = out
        self.env = {**os.environ, **env} if env else None  # --host-env: this process only
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.out, "ab") as f:
            self.proc = subprocess.Popen(
                self.argv, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
            )

    def describe(self) -> str:
        """The process's state and the last line of its output, for an error message."""
        state = "not started" if self.proc is None else "running"
        if self.proc is not None and self.proc.poll() is not None:
            state = f"exited with {self.proc.returncode}"
        try:
            lines = self.out.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return f"host {state}" + (f", its output ends: {lines[-1][-300:]}" if lines else "")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


class Chaos:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        from buzzline.io.broker import MosquittoBroker, free_port

        self.args = args
        self.rng = random.Random(args.seed)
        self.workdir = workdir
        (workdir / "broker").mkdir()
        self.broker = MosquittoBroker(workdir=workdir / "broker", persistence=True)
        self.token = "chaos-" + os.urandom(4).hex()
        self.api = f"http://127.0.0.1:{free_port()}"
        self.log_path = args.log_path or str(workdir / "chaos.db")
        self.host = HostProcess(
            self.broker.address,
            self.log_path,
            int(self.api.rsplit(":", 1)[1]),
            self.token,
            workdir / "host.out",
            env=dict(args.host_env),
        )
        self.pids = [f"p{i + 1}" for i in range(args.podiums)]
        self.pods: dict[str, Any] = {}
        self.proxies: dict[str, Any] = {}
        self.busy: set[str] = set()  # podiums a fault is working on: not chosen to race
        self.presses: list[TruePress] = []
        self.recovery: dict[str, list[float]] = {
            "broker": [],
            "host": [],
            "broker_clock": [],
            "host_clock": [],
            "reboot": [],
            "reboot_clock": [],
        }
        self.fw_tree: Path | None = None  # the .mpy tree firmware podiums run (--firmware)
        # after a reboot, the podium races first in one question, then second in another
        self.reboot_races: list[tuple[str, int]] = []
        self.reboot_raced = 0
        self.down_presses = 0
        self.reboots = 0  # reboot faults that struck (one needs a podium that is not racing)
        self.deferred: list[Fault] = []  # podium faults that found no spare podium: next question
        self.recovery_detail: list[dict[str, Any]] = []
        self.state: dict[str, Any] = {}
        self._process_fault: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.http: Any = None  # an httpx.AsyncClient while running

    # ---- plumbing --------------------------------------------------------------------------------
    def trace(self, what: str) -> None:
        """One line in ``trace.log`` of the work directory (--workdir): what happened when."""
        if self.args.workdir:
            with open(self.workdir / "trace.log", "a") as f:
                f.write(f"{now_us()} {what}\n")

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        """One API call, retried while the host is away (killed, restarting)."""
        import httpx

        deadline = time.monotonic() + 30
        while True:
            try:
                r = await self.http.request(
                    method, path, json=body, headers={"authorization": f"Bearer {self.token}"}
                )
                return r.status_code, r.json()
            except (httpx.TransportError, json.JSONDecodeError) as e:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the host's API at {self.api} did not answer {method} {path} for 30 s "
                        f"({type(e).__name__}; {self.host.describe()})"
                    ) from e
                await asyncio.sleep(0.05)

    async def poll(self) -> dict[str, Any]:
        _, self.state = await self.call("GET", "/api/state")
        return self.state

    async def cmd(self, name: str, **args: Any) -> int:
        status, _ = await self.call("POST", "/api/command", {"name": name, "args": args})
        return status

    async def new_podium(self, pid: str) -> None:
        port = self.proxies[pid].port
        pod: SimPodium | FirmwarePodium
        if self.fw_tree is not None:
            pod = FirmwarePodium(pid, port, STUDIO, self.fw_tree, self.workdir / pid)
        else:
            pod = SimPodium(pid, port, STUDIO, random.Random(self.rng.random()))
        for _ in range(100):
            try:
                await pod.start()
                break
            except Exception:  # the broker may be down right now: a podium keeps trying
                await asyncio.sleep(0.2)
        self.pods[pid] = pod

    def spawn(self, coro: Any) -> asyncio.Task[None]:
        t: asyncio.Task[None] = asyncio.create_task(coro)
        self._tasks.add(t)
        t.add_done_callback(self._tasks.discard)
        return t

    # ---- recovery --------------------------------------------------------------------------------
    async def recovered(self, kind: str, t0_us: int) -> None:
        """``recovery_s``: from ``t0_us`` until the host is connected and has heard every podium
        since; ``clock_trust_s``: until it also trusts every podium's clock again. When each
        part came is kept in ``recovery_detail``."""
        marks: dict[str, float] = {}
        while True:
            st = await self.poll()
            t = round((now_us() - t0_us) / 1e6, 3)
            pods = {p["podium"]: p for p in st.get("podiums", [])}
            if st.get("connected"):
                marks.setdefault("connected", t)
            for pid in self.pids:
                p = pods.get(pid)
                if p is not None and p["last_heard_us"] > t0_us:
                    marks.setdefault(f"heard {pid}", t)
                    if p["clock_trusted"]:
                        marks.setdefault(f"trusted {pid}", t)
            if "connected" in marks and all(f"heard {pid}" in marks for pid in self.pids):
                if kind not in marks:
                    marks[kind] = t
                    self.recovery[kind].append(t)
                if all(f"trusted {pid}" in marks for pid in self.pids) or t > 30:
                    self.recovery[f"{kind}_clock"].append(t)
                    self.recovery_detail.append({"kind": kind, **marks})
                    return
            await asyncio.sleep(0.02)

    async def broker_fault(self, persistence: bool) -> None:
        self.broker.kill()
        await asyncio.sleep(self.rng.uniform(0.3, 1.0))
        self.broker.persistence = persistence
        if not persistence:  # a broker without persistence comes back empty
            for f in (self.workdir / "broker").glob("*.db"):
                f.unlink()
        await asyncio.to_thread(self.broker.start)
        await self.recovered("broker", now_us())

    async def host_fault(self) -> None:
        t0 = now_us()
        self.host.kill()
        self.host.start()
        await self.recovered("host", t0)

    async def rebooted(self, pid: str) -> None:
        """A rebooted podium is back (its process runs): until the host has heard its new boot
        (``recovery_s.reboot``) and trusts that boot's clock (``clock_trust_s.reboot``)."""
        t0 = now_us()
        boot = await self.pods[pid].boot()
        marks: dict[str, Any] = {}
        while True:
            st = await self.poll()
            t = round((now_us() - t0) / 1e6, 3)
            p = {p["podium"]: p for p in st.get("podiums", [])}.get(pid, {})
            if p.get("boot") == boot and p.get("last_heard_us", 0) > t0:
                if "heard" not in marks:
                    marks["heard"] = t
                    self.recovery["reboot"].append(t)
                # the host's model of the new boot: exchanges, bound, fastest round trip (at 2 s
                # after it was heard too, for the slow ones)
                clock = p.get("clock") or {}
                seen = [clock.get("samples"), clock.get("err_us"), clock.get("min_rtt_us")]
                if "at_2s" not in marks and t - marks["heard"] >= 2.0:
                    marks["at_2s"] = seen
                if p.get("clock_trusted") or t > 30:
                    self.recovery["reboot_clock"].append(t)
                    detail = {"kind": "reboot", "podium": pid, **marks, "trusted": t, "model": seen}
                    self.recovery_detail.append(detail)
                    return
            await asyncio.sleep(0.02)

    async def podium_fault(self, kind: str, pid: str) -> None:
        self.busy.add(pid)
        try:
            if kind == "reboot":
                self.reboots += 1
                await self.pods[pid].crash()
                await asyncio.sleep(self.rng.uniform(0.2, 1.0))  # booting
                await self.new_podium(pid)
                await self.rebooted(pid)
                if self.fw_tree is not None:
                    self.reboot_races += [(pid, 0), (pid, 1)]
            elif kind == "reset":
                self.proxies[pid].reset()
            else:
                seconds = self.rng.uniform(1.5, 3.0)
                self.proxies[pid].blackhole(seconds)
                await asyncio.sleep(seconds)
            # back to racing once the host trusts its clock again
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                pods = {p["podium"]: p for p in self.state.get("podiums", [])}
                if await self.pods[pid].link_up() and pods.get(pid, {}).get("clock_trusted"):
                    break
                await asyncio.sleep(0.1)
        finally:
            self.busy.discard(pid)

    def strike(self, fault: Fault, racers: set[str]) -> None:
        self.trace(f"fault {fault.kind} persistence={fault.persistence}")
        if fault.kind in ("broker", "host"):
            coro = self.broker_fault(fault.persistence) if fault.kind == "broker" else self.host_fault()
            self._process_fault = self.spawn(coro)
            return
        spare = [p for p in self.pids if p not in racers and p not in self.busy]
        if not spare:  # every podium races or is busy: the fault strikes in the next question
            self.deferred.append(fault)
        else:
            pid = self.rng.choice(spare)
            self.trace(f"podium fault {fault.kind} {pid}")
            self.spawn(self.podium_fault(fault.kind, pid))

    # ---- one question ----------------------------------------------------------------------------
    async def to_open(self) -> int:
        while True:
            st = await self.poll()
            phase = st["game"]["phase"]
            if phase == "open":
                return int(st["game"]["ep"])
            if phase in ("idle", "reading"):
                await self.cmd("arm")
            elif phase == "answering":  # left over from before a host restart
                await self.cmd("judge", correct=True)
            else:
                await self.cmd("next")

    async def finish(self) -> None:
        for _ in range(50):
            phase = (await self.poll())["game"]["phase"]
            if phase == "idle":
                return
            if phase == "answering":
                await self.cmd("judge", correct=True)
            elif phase == "open":
                await self.cmd("timeout")
            else:
                await self.cmd("next")

    async def question(self, q: int, n_racers: int, faults: list[Fault]) -> None:
        if self._process_fault is not None and any(f.kind in ("broker", "host") for f in faults):
            await self._process_fault  # one process fault at a time (before arming: a question
            # left open meanwhile would end at its buzz window with nobody's press)
        deadline = time.monotonic() + 15
        while self.reboot_races and self.reboot_races[0][0] in self.busy and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the rebooted podium races next: until it is back and trusted
        epoch = await self.to_open()
        ready = {p["podium"] for p in self.state.get("podiums", []) if p.get("clock_trusted")}
        healthy = [p for p in self.pids if p not in self.busy and p in ready and await self.pods[p].link_up()]
        if len(healthy) < n_racers:
            healthy = [p for p in self.pids if p not in self.busy] or list(self.pids)
        forced: tuple[str, int] | None = None
        if self.reboot_races and n_racers >= 2:
            # back and trusted, or back with its fault's 15 s wait for trust run out (a holding
            # link): it races as it is, and an untrusted clock makes an honest tie, not a skip
            pid = self.reboot_races[0][0]
            if pid in healthy or (pid not in self.busy and await self.pods[pid].link_up()):
                forced = self.reboot_races.pop(0)
        racers = self.rng.sample(healthy, k=min(n_racers, len(healthy)))
        offsets = sorted(self.rng.sample(range(0, 200, 15), k=len(racers)))
        if forced is not None and forced[1] < len(racers):  # the rebooted podium first, or second
            pid, pos = forced
            if pid in racers:
                racers.remove(pid)
            else:
                racers.pop()
            racers.insert(pos, pid)
            self.reboot_raced += 1
        h0 = now_us() + 150_000
        press_at = [h0 + o * 1000 for o in offsets]
        for f in faults:
            if f.kind == "down":
                self.link_down_press(racers, press_at, forced)
                continue
            delay = self.rng.uniform(0.0, 0.4)
            if f.kind == "broker" and self.fw_tree is not None:
                # presses in flight: in the podium's outbox, on the wire, or acknowledged by
                # the broker and not yet delivered to the host
                delay = (self.rng.choice(press_at) - now_us()) / 1e6 + self.rng.uniform(-0.004, 0.006)
            elif f.kind == "host" and self.args.aim_host_kills:
                # the first buzz read by the host (its delivery acknowledged) and not yet written
                delay = (press_at[0] - now_us()) / 1e6 + self.rng.uniform(0.008, 0.020)
            self.spawn(self._later(max(0.0, delay), f, set(racers)))

        self.trace(f"question {q} epoch {epoch} racers {racers} at {press_at}")

        async def press(pid: str, h: int) -> None:
            pt, h_true = await self.pods[pid].press(h)
            self.presses.append(TruePress(q, epoch, pid, pt, h_true))
            self.trace(f"pressed {pid} pt {pt} at {h_true}")

        await asyncio.gather(*(press(p, h) for p, h in zip(racers, press_at, strict=True)))
        # the decision, then until every racer's press has left its podium (an operator judges
        # after a second or so; a late press may still overturn a provisional call until then)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            g = (await self.poll())["game"]
            if g["ep"] != epoch or g["phase"] != "open":
                break
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and await self.unsettled(racers):
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)
        await self.finish()

    async def unsettled(self, racers: list[str]) -> bool:
        for p in racers:
            if await self.pods[p].pending() or not await self.pods[p].link_up():
                return True
        return False

    def link_down_press(self, racers: list[str], press_at: list[int], forced: tuple[str, int] | None) -> None:
        """One racer's link goes down (radio off, connection reset) just before it presses and
        comes back 0.3-1 s later: the press waits in its outbox with its edge's timestamp."""
        choice = [
            i for i, p in enumerate(racers) if p not in self.busy and (forced is None or p != forced[0])
        ]
        if not choice:
            return
        i = self.rng.choice(choice)
        pid, down_s = racers[i], self.rng.uniform(0.3, 1.0)
        self.trace(f"link down {pid} for {down_s:.3f} s")
        self.down_presses += 1

        async def outage() -> None:
            self.busy.add(pid)
            try:
                await asyncio.sleep(max(0.0, (press_at[i] - now_us()) / 1e6 - 0.03))
                await self.pods[pid].radio(False)
                self.proxies[pid].reset()
                await asyncio.sleep(0.03 + down_s)
                await self.pods[pid].radio(True)
            finally:
                self.busy.discard(pid)

        self.spawn(outage())

    async def _later(self, delay: float, fault: Fault, racers: set[str]) -> None:
        await asyncio.sleep(delay)
        self.strike(fault, racers)

    # ---- the run ---------------------------------------------------------------------------------
    async def run(self) -> dict[str, Any]:
        import httpx

        from buzzline.sim.faultproxy import FaultProxy, LinkFaults

        racers, faults = plan(self.args, self.rng)
        t_start = time.monotonic()
        if self.args.firmware:
            self.fw_tree = await asyncio.to_thread(FirmwarePodium.build, self.workdir / "fw")
        self.broker.start()
        self.host.start()
        async with httpx.AsyncClient(base_url=self.api, timeout=5) as http:
            self.http = http
            for i, pid in enumerate(self.pids):
                f = LinkFaults(
                    delay_ms=self.rng.uniform(0.2, 1.5), jitter_ms=self.rng.uniform(0.0, 1.5), drop=0.005
                )
                if i == len(self.pids) - 1:  # the flaky radio: deaf about 10% of the time
                    f.hold_every_s, f.hold_max_ms = HOLD_EVERY_S, HOLD_MAX_MS
                proxy = FaultProxy(
                    self.broker.host, self.broker.port, f, random.Random(self.rng.random()), pid
                )
                await proxy.start()
                self.proxies[pid] = proxy
            await self.recovered_start()
            for q, n in enumerate(racers):
                deferred, self.deferred = self.deferred, []
                await self.question(q, n, deferred + [f for f in faults if f.question == q])
            if self._process_fault is not None:
                await self._process_fault
            for t in list(self._tasks):
                with contextlib.suppress(Exception):
                    await t
            mem_errors = [await pod.memory_errors() for pod in self.pods.values()]
            for pod in self.pods.values():
                await pod.stop()
            for proxy in self.proxies.values():
                await proxy.stop()
        self.host.stop()
        self.broker.stop()
        result = score(self.presses, read_log(self.log_path), self.recovery)
        counts: dict[str, int] = {}
        for proxy in self.proxies.values():
            for k, v in proxy.counts.items():
                counts[k] = counts.get(k, 0) + v
        result["faults"] = {
            "broker_kills": len(self.recovery["broker"]),
            "host_kills": len(self.recovery["host"]),
            "podium_reboots": sum(f.kind == "reboot" for f in faults),
            "podium_reboots_struck": self.reboots,
            "reboot_races": self.reboot_raced,
            "link_down_presses": self.down_presses,
            "link": counts,
        }
        if self.fw_tree is not None:  # caught by the podiums still running at the end
            result["memory_errors"] = sum(mem_errors)
        result["recovery_detail"] = self.recovery_detail
        result.update(
            podiums=self.args.podiums,
            firmware=self.args.firmware,
            seed=self.args.seed,
            duration_s=round(time.monotonic() - t_start, 1),
        )
        return result

    async def recovered_start(self) -> None:
        """Everyone up and synced before the first question."""
        for pid in self.pids:
            await self.new_podium(pid)
        while True:
            st = await self.poll()
            pods = {p["podium"]: p for p in st.get("podiums", [])}
            if st.get("connected") and all(pods.get(p, {}).get("clock_trusted") for p in self.pids):
                return
            await asyncio.sleep(0.05)


def run(args: argparse.Namespace) -> int:
    # resets and refused connections are what this benchmark is about: not worth a log line each
    logging.getLogger("mqtt").setLevel(logging.CRITICAL)
    logging.getLogger("buzzline.sim").setLevel(logging.WARNING)
    # a SIGTERM (a test harness's timeout, a supervisor) still stops the broker and host it started
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if args.workdir:
        wd = Path(args.workdir)
        if wd.exists() and (not wd.is_dir() or any(wd.iterdir())):
            # a new or empty directory: nothing of an old run mixes in
            print(f"buzzline bench chaos: --workdir {wd}: not an empty directory", file=sys.stderr)
            return 2
    with contextlib.ExitStack() as stack:
        if args.workdir:
            Path(args.workdir).mkdir(parents=True, exist_ok=True)
            tmp = args.workdir
        else:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="buzzline-chaos-"))
        chaos = Chaos(args, Path(tmp))
        try:
            result = asyncio.run(chaos.run())
        finally:
            chaos.host.kill()
            chaos.broker.stop()
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"chaos: {result['presses']} presses in {result['questions']} questions, "
            f"decided {result['decided']}, lost {result['lost']}, doubled {result['doubled']}, "
            f"wrong {result['wrong']}, timeouts {result['timeouts']}, overturned {result['overturned']}, "
            f"tie calls {result['tie_calls']}"
        )
        for kind, r in result["recovery_s"].items():
            print(f"  recovery {kind:6s} p50 {r['p50']} s  max {r['max']} s  ({r['n']} faults)")
    ok = result["lost"] == 0 and result["doubled"] == 0 and result["wrong"] == 0
    return 0 if ok else 1
