"""Close buzzer races over simulated networks, decided three ways on the same messages.

``buzzline`` runs the real ClockBook + DelayBook + Arbiter (sync exchanges through the model
network, lock acknowledgements and heartbeats as watermarks, capture bounds per board, per-podium
wait caps, provisional decisions that an earlier press arriving while the answer is open
overturns); ``arrival_order`` names the first message to arrive; ``fixed_window`` waits 100 ms and
orders by podium time corrected by offset only. Every race keeps its detail for ``--explain``.
(Over 400 lines: one race's message streams, its three deciders and their bookkeeping are one
simulation step; the profile and the network model live in their own modules.)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.clock import ClockBook, capture_bound_us, with_capture
from buzzline.core.delays import DelayBook
from buzzline.core.types import ArbiterEffect, Decided, Decision, Overturned, Press
from buzzline.sim.netmodel import NetPath, PodiumClock, Profile, burst_us, capture_us, gap_us, stamping_us
from buzzline.sim.profile import CaptureSpec

FIXED_WINDOW_US = 100_000
# As the firmware: after every (re)connect a burst of 8 exchanges 60 ms apart, then 16 a second
# for a minute (settling), then one every ``sync_ms`` of the profile.
BOOT_SYNCS = 8
BOOT_SYNC_GAP_US = 60_000
SETTLE_US = 60_000_000
SETTLE_GAP_US = 62_500
RECONNECT_US = 2_000_000  # a rebooted podium is back on Wi-Fi and the broker after this
ANSWER_OPEN_US = 3_000_000  # after a provisional decision the answer stays open this long


def declared_cap(c: CaptureSpec, draws: int = 20_000) -> int:
    """The capture bound the host uses for podiums of this spec (0 for board "none"): the board's
    default, or the declared [p99, max] a selftest would measure (drawn with a fixed seed)."""
    if c.board == "none":
        return 0
    if not c.declare:
        return capture_bound_us(c.board)
    rng = random.Random(0)
    xs = sorted(capture_us(rng, c) for _ in range(draws))
    top = int(c.max_us) if c.max_us > 0 else xs[-1]
    return capture_bound_us(c.board, [min(xs[int(0.99 * draws)], top), top])


@dataclass(frozen=True, slots=True)
class Outcome:
    winner: str | None  # the final answer (after any overturn)
    tie: bool
    latency_us: int  # first decision instant minus the true first press
    flags: frozenset[str] = frozenset()
    overturned: bool = False


@dataclass(slots=True)
class RaceResult:
    truth: tuple[str, ...]  # podiums in true press order
    gap_us: int  # true time between the first and second press
    buzzline: Outcome
    arrival_order: Outcome
    fixed_window: Outcome
    clock_errors_us: list[int] = field(default_factory=list)  # every press received by the host
    covered: int = 0  # presses whose true time lies within mapped ± bound (capture included)
    boards: str = ""  # boards of the two true leaders, e.g. "esp32/picow"
    detail: dict[str, object] = field(default_factory=dict)  # for --explain


@dataclass(slots=True)
class _Msg:
    send_us: int
    delay_us: int
    kind: str  # "buzz" | "ack" | "hb" | "off" (the broker's last will for a rebooted podium)
    pt: int
    arrival_us: int = 0
    seq: int = 0


class _SimPodium:
    def __init__(self, index: int, profile: Profile, rng: random.Random, now_us: int) -> None:
        self.id = f"p{index + 1}"
        g = self.group = profile.group_of(index)
        asym = rng.uniform(-g.asymmetry, g.asymmetry)
        self.up = NetPath(g.up, g.loss, rng, 1 + asym)
        self.down = NetPath(g.down, g.loss, rng, 1 - asym)
        self.clock = PodiumClock(rng, profile.skew_ppm, now_us, profile.offset_s)
        self.next_sync = now_us + rng.randrange(int(profile.sync_ms * 1000))
        self.settle_until = 0  # until then the podium syncs fast (after a (re)connect)
        self.hb_phase = rng.randrange(int(profile.heartbeat_ms * 1000))
        self.seq = 0
        self.stream_free_us = 0  # TCP keeps order: nothing arrives before the previous message
        self.pending: list[tuple[int, tuple[int, int, int, int]]] = []  # (known at, sample)
        self.naive: list[tuple[int, int]] = []  # (rtt, offset) of recent samples, for fixed_window


class RaceSim:
    """A long show on one profile: podiums keep their clocks and paths from race to race."""

    def __init__(
        self, profile: Profile, seed: int, rules: ArbiterRules | None = None, asymmetry: float | None = None
    ) -> None:
        self.p = profile
        self.rng = random.Random(seed)
        self.rules = rules or ArbiterRules(mode="first", tie_rule="earliest")
        self.now = 10_000_000
        self.book = ClockBook(asymmetry)  # the host's clock setting (None: the default allowance)
        self.delays = DelayBook()
        self.podiums = [_SimPodium(i, profile, self.rng, self.now) for i in range(profile.podiums)]
        caps = {g.name: declared_cap(g.capture) for g in profile.groups}
        self.cap_bound = {pod.id: caps[pod.group.name] for pod in self.podiums}
        self.races = 0
        self._offline: list[tuple[int, str]] = []  # (host µs, podium): last will published
        # converge before the first race, as a show would during the warm-up
        for pod in self.podiums:
            self._boot_syncs(pod, self.now)
        self.now += 20_000_000
        self.start = self.now  # scheduled events count from here
        self._events = [e for e in profile.events if e.kind == "reboot"]
        self._timed = [e for e in profile.events if e.kind != "reboot"]  # congestion, queue

    # ---- clock sync --------------------------------------------------------------------------

    def _sync(self, pod: _SimPodium, at_us: int, next_us: int) -> None:
        """One exchange at ``at_us``; the podium reports it in its next request, at ``next_us``."""
        t1 = pod.clock.at(at_us)
        up = pod.up.delay_us(reliable=False)
        down = pod.down.delay_us(reliable=False)
        if up is None or down is None:
            return  # QoS 0: the exchange is simply lost
        # each stamp sits a little software away from the wire ([stamping]): t1 before the
        # request leaves, t2 after it arrived, t3 before the reply leaves, t4 after it arrived
        up += self._stamping("podium_write") + self._stamping("host_read")
        down += self._stamping("host_write") + self._stamping("podium_read")
        t2 = at_us + up
        t3 = t2 + self.p.turnaround_us
        t4 = pod.clock.at(t3 + down)
        # the podium reports the sample in its next request (protocol v1 ``prev``)
        pod.pending.append((max(next_us, t3 + down) + up, (t1, t2, t3, t4)))

    def _stamping(self, where: str) -> int:
        st = self.p.stamping
        median: float = getattr(st, f"{where}_us")
        return stamping_us(self.rng, median, st.sigma) if median > 0 else 0

    def _up_us(self, pod: _SimPodium) -> int:
        """An upstream message from its stamp to the host reading it: write, path, read."""
        path = pod.up.delay_us() or 0
        return self._stamping("podium_write") + path + self._stamping("host_read")

    def _boot_syncs(self, pod: _SimPodium, at_us: int) -> None:
        for k in range(BOOT_SYNCS):
            self._sync(pod, at_us + k * BOOT_SYNC_GAP_US, at_us + (k + 1) * BOOT_SYNC_GAP_US)
        pod.next_sync = at_us + BOOT_SYNCS * BOOT_SYNC_GAP_US
        pod.settle_until = pod.next_sync + SETTLE_US

    def _syncs_until(self, pod: _SimPodium, until_us: int) -> None:
        while pod.next_sync < until_us:
            step = SETTLE_GAP_US if pod.next_sync < pod.settle_until else int(self.p.sync_ms * 1000)
            self._sync(pod, pod.next_sync, pod.next_sync + step)
            pod.next_sync += step

    def _learn(self, pod: _SimPodium, now_us: int) -> None:
        """Hand the host every sample it has received by ``now_us``."""
        if not pod.pending or pod.pending[0][0] > now_us:
            return
        model = self.book.model(pod.id, pod.clock.boot)
        keep = []
        for known, (t1, t2, t3, t4) in pod.pending:
            if known > now_us:
                keep.append((known, (t1, t2, t3, t4)))
                continue
            self.book.note_time(pod.id, pod.clock.boot, t4)
            model.add_sample(t1, t2, t3, t4)
            pod.naive.append(((t4 - t1) - (t3 - t2), ((t2 - t1) + (t3 - t4)) // 2))
            del pod.naive[:-8]
        pod.pending = keep

    # ---- one race ----------------------------------------------------------------------------

    def _gap_us(self) -> int:
        return gap_us(self.p, self.rng)

    def _scheduled(self, arm: int) -> set[str]:
        """Fire the profile's reboots due by ``arm``; the podiums to reboot in this race."""
        reboot: set[str] = set()
        while self._events and self.start + self._events[0].at_s * 1e6 <= arm:
            e = self._events.pop(0)
            if e.podium is not None:
                reboot.add(f"p{e.podium}")
        return reboot

    def _send(self, pod: _SimPodium, msgs: list[_Msg]) -> None:
        # arrivals in send order (one TCP stream per podium); sequence numbers in send order
        msgs.sort(key=lambda m: m.send_us)
        free = pod.stream_free_us
        for m in msgs:
            m.arrival_us = max(m.send_us + m.delay_us, free + 1)
            free = m.arrival_us

    def race(self) -> RaceResult:
        p, rng = self.p, self.rng
        self.races += 1
        arm = self.now + int(p.race_interval_ms * 1000)
        self._offline = []
        rebooting: set[str] = set()
        forced = self._scheduled(arm)
        for pod in self.podiums:
            pod.clock.wander(self.now, p.wander_ppm)
            burst = burst_us(pod.group.congestion, rng)
            since_s = (arm - self.start) / 1e6
            timed = [e for e in self._timed if e.group == pod.group.name and e.active(since_s)]
            burst += sum(e.extra_ms * 1000 for e in timed if e.kind == "congestion")
            pod.up.burst_us = pod.down.burst_us = burst
            # a queue event reshapes one direction's queueing while it lasts
            for path, base, way in ((pod.up, pod.group.up, "up"), (pod.down, pod.group.down, "down")):
                path.d = base
                for e in timed:
                    if e.kind == "queue" and e.direction == way:
                        path.d = e.reshape(path.d)
            if rng.random() < p.reboot_p or pod.id in forced:
                at = rng.randrange(self.now, arm)
                pod.clock.reboot(at)
                pod.pending = []
                pod.naive = []
                self._boot_syncs(pod, at + RECONNECT_US)  # Wi-Fi and broker reconnect first
                # Its button is dead until it is back and re-armed; the broker publishes its
                # last will (offline) when the new session replaces the old one.
                rebooting.add(pod.id)
                self._offline.append((at + RECONNECT_US, pod.id))
        # contestants: 2..N live podiums, successive gaps log-uniform, so many races are within ms
        live = [pod for pod in self.podiums if pod.id not in rebooting]
        if len(live) < 2:
            live = self.podiums
        k = rng.randint(2, len(live))
        pressers = rng.sample(live, k)
        t = arm + rng.randrange(150_000, 800_000)
        presses: dict[str, int] = {}
        late: dict[str, int] = {}  # capture latency: the podium stamps the press this much later
        for i, pod in enumerate(pressers):
            if i:
                t += self._gap_us()
            presses[pod.id] = t
            late[pod.id] = capture_us(rng, pod.group.capture)
        first_press = min(presses.values())
        truth = tuple(sorted(presses, key=lambda x: presses[x]))
        gap = presses[truth[1]] - presses[truth[0]]
        for pod in self.podiums:
            self._syncs_until(pod, first_press)
        end = first_press + 1_000_000
        # upstream messages except lock acks (those depend on the host's first arrival)
        streams: dict[str, list[_Msg]] = {}
        hb = int(p.heartbeat_ms * 1000)
        for pod in self.podiums:
            msgs: list[_Msg] = []
            if pod.id in presses:
                stamp = presses[pod.id] + late[pod.id]
                send = stamp + rng.randrange(100, 600)  # debounce task, then publish
                msgs.append(_Msg(send, self._up_us(pod), "buzz", pod.clock.at(stamp)))
            h = arm - (arm - pod.hb_phase) % hb + hb
            while h < end:
                msgs.append(_Msg(h, self._up_us(pod), "hb", pod.clock.at(h)))
                h += hb
            self._send(pod, msgs)
            streams[pod.id] = msgs
        buzzes = [(m.arrival_us, pid) for pid, ms in streams.items() for m in ms if m.kind == "buzz"]
        a0, first_pid = min(buzzes)
        # every podium but the leader gets the lock and acknowledges it with its own time; a
        # button pressed before the lock arrived is sent ahead of the acknowledgement (the IRQ is
        # serviced before the message handler, however late its stamp)
        acks: dict[str, tuple[int, int]] = {}
        for pod in self.podiums:
            if pod.id == first_pid:
                continue
            # the lock leaves after the host read the first buzz; the podium stamps its
            # acknowledgement after reading the lock
            got = (
                a0 + self._stamping("host_write") + (pod.down.delay_us() or 0) + self._stamping("podium_read")
            )
            sent = got
            if pod.id in presses and presses[pod.id] < got:
                buzz = next(m for m in streams[pod.id] if m.kind == "buzz")
                sent = max(got, buzz.send_us + 1)
            streams[pod.id].append(_Msg(sent, self._up_us(pod), "ack", pod.clock.at(sent)))
            self._send(pod, streams[pod.id])
            acks[pod.id] = (sent, streams[pod.id][-1].arrival_us)
        for pod in self.podiums:
            for m in streams[pod.id]:
                pod.seq += 1
                m.seq = pod.seq
        seen: list[dict[str, object]] = []
        buzzline, decision = self._buzzline(arm, streams, presses, late, first_press, seen)
        for pod in self.podiums:
            self._learn(pod, a0)
        by_id = {pod.id: pod for pod in self.podiums}
        boards = "/".join(sorted(by_id[pid].group.capture.board for pid in truth[:2]))
        result = RaceResult(
            truth=truth,
            gap_us=gap,
            buzzline=buzzline,
            arrival_order=Outcome(first_pid, False, a0 - first_press),
            fixed_window=self._fixed_window(a0, streams, first_press),
            clock_errors_us=[int(x["clock_error_us"]) for x in seen],  # type: ignore[call-overload]
            covered=sum(1 for x in seen if x["covered"]),
            boards=boards,
        )
        result.detail = {
            "race": self.races,
            "first_press_us": first_press,
            "truth": list(truth),
            "gap_us": gap,
            "presses": seen,
            "acks": {pid: {"sent_us": a, "arrival_us": b} for pid, (a, b) in sorted(acks.items())},
            "offline": [{"at_us": t, "podium": pid} for t, pid in self._offline],
            "decision": None if decision is None else _decision_json(decision),
        }
        for pod in self.podiums:
            pod.stream_free_us = max(m.arrival_us for m in streams[pod.id]) if streams[pod.id] else 0
        self.now = end + rng.randrange(0, 200_000)
        return result

    def _buzzline(
        self,
        arm: int,
        streams: dict[str, list[_Msg]],
        presses: dict[str, int],
        late: dict[str, int],
        first: int,
        seen: list[dict[str, object]],
    ) -> tuple[Outcome, Decision | None]:
        arb = Arbiter(
            self.races,
            {pod.id: None for pod in self.podiums},
            self.rules,
            seed=self.races,
            wait_caps=self.delays.caps(),
        )
        arb.arm(arm, arm)
        events = [
            (m.arrival_us, m.seq, pid, m) for pid, ms in streams.items() for m in ms if m.arrival_us >= arm
        ]
        events += [(t, 0, pid, _Msg(t, 0, "off", 0, t)) for t, pid in self._offline if t >= arm]
        events.sort(key=lambda e: (e[0], e[2], e[1]))
        by_id = {pod.id: pod for pod in self.podiums}
        first_decision: Decision | None = None
        final: Decision | None = None
        overturned = False
        last = arm

        def take(out: list[ArbiterEffect]) -> None:
            nonlocal first_decision, final, overturned
            for e in out:
                if isinstance(e, Decided):
                    first_decision = first_decision or e.decision
                    final = e.decision
                elif isinstance(e, Overturned):
                    final = e.decision
                    overturned = True

        for arrival, _seq, pid, m in events:
            if first_decision is not None and not arb.provisional:
                break  # final: nothing that arrives now can change it
            if first_decision is not None and arrival > first_decision.decided_us + ANSWER_OPEN_US:
                break  # the answer was judged: too late to overturn
            deadline = arb.next_deadline()
            if deadline is not None and deadline < arrival:
                take(arb.tick(max(deadline, last)))  # a deadline may fall behind an input already fed
            last = arrival
            if m.kind == "off":
                take(arb.offline(pid, arrival))
                continue
            pod = by_id[pid]
            self._syncs_until(pod, arrival)
            self._learn(pod, arrival)
            boot = pod.clock.boot
            self.book.note_time(pid, boot, m.pt)
            mp = self.book.model(pid, boot).map(m.pt)
            self.delays.note(pid, mp.host_us, mp.err_us, arrival)
            cap = self.cap_bound[pid]
            if m.kind == "buzz":
                full = with_capture(mp, cap)
                truth = presses[pid]
                covered = abs(full.host_us - truth) <= full.err_us
                seen.append(
                    {
                        "podium": pid,
                        "board": pod.group.capture.board,
                        "true_us": truth,
                        "capture_us": late[pid],
                        "podium_us": m.pt,
                        "mapped_us": full.host_us,
                        "err_us": full.err_us,
                        "cap_us": full.err_us - mp.err_us,
                        "trusted": mp.trusted,
                        "arrival_us": arrival,
                        "clock_error_us": abs(mp.host_us - (truth + late[pid])),
                        "covered": covered,
                    }
                )
                press = Press(
                    pid,
                    m.seq,
                    m.pt,
                    full.host_us,
                    full.err_us,
                    arrival,
                    mp.trusted,
                    cap_us=full.err_us - mp.err_us,
                )
                take(arb.press(press, arrival))
            else:
                # the podium is past its stamp minus the capture bound (a press stamped later may
                # have been pressed up to that much earlier); an acknowledgement is complete
                take(
                    arb.watermark(
                        pid, m.seq, mp.host_us - cap, arrival, err_us=mp.err_us, lock_ack=m.kind == "ack"
                    )
                )
        if first_decision is None:
            deadline = arb.next_deadline()
            take(arb.tick(max(last, deadline if deadline is not None else events[-1][0])))
        if first_decision is None or final is None:
            return Outcome(None, False, 0), None
        return (
            Outcome(final.winner, final.is_tie, first_decision.decided_us - first, final.flags, overturned),
            final,
        )

    def _fixed_window(self, a0: int, streams: dict[str, list[_Msg]], first: int) -> Outcome:
        close = a0 + FIXED_WINDOW_US
        best: tuple[int, str] | None = None
        for pod in self.podiums:
            offset = min(pod.naive)[1] if pod.naive else 0  # min-round-trip sample, no skew
            for m in streams[pod.id]:
                if m.kind == "buzz" and m.arrival_us <= close:
                    cand = (m.pt + offset, pod.id)
                    best = cand if best is None else min(best, cand)
        if best is None:  # cannot happen: the first arrival is inside its own window
            return Outcome(None, False, close - first)
        return Outcome(best[1], False, close - first)


def _decision_json(d: Decision) -> dict[str, object]:
    return {
        "winner": d.winner,
        "tied": list(d.tied),
        "flags": sorted(d.flags),
        "decided_us": d.decided_us,
        "evidence": d.evidence,
    }
