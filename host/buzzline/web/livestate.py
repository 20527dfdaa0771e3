"""What the console and /metrics know beyond the game view, kept from the host's notice bus.

``Collector`` reads its own subscription (and the host's append-only decision list) and keeps the
counters, the latency histograms, every score change with its reason, and the current
question's false starts. ``full_state`` is the one JSON document the console draws from
(``GET /api/state``; the live stream sends it again after every notice).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections import Counter
from typing import TYPE_CHECKING, Any

from buzzline.core.clock import ClockModel
from buzzline.core.contract import PodiumRow, ScoreChange, podiums_of, score_changes
from buzzline.core.types import Decision
from buzzline.hosttime import now_us
from buzzline.notices import Notice
from buzzline.web import preflight_api
from buzzline.web.metrics import Family, Histogram

if TYPE_CHECKING:
    from buzzline.host_service import HostService
    from buzzline.lifecycle import Part

log = logging.getLogger("buzzline.web")

HISTORY = 1000  # score changes kept for the console (a long show has a few hundred)


def jsonable(x: Any) -> Any:
    if dataclasses.is_dataclass(x) and not isinstance(x, type):
        d = {f.name: jsonable(getattr(x, f.name)) for f in dataclasses.fields(x)}
        d["type"] = type(x).__name__
        return d
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple | set | frozenset):
        return [jsonable(v) for v in (sorted(x) if isinstance(x, set | frozenset) else x)]
    return x


class Collector:
    def __init__(self, svc: HostService) -> None:
        self.svc = svc
        self.sub = svc.notices.subscribe("web:collector", 4096, replay_latest=False)
        self.counts: Counter[str] = Counter()  # decisions, ties, false_starts, flag:..., judged:..., over:...
        self.lockout = Histogram()
        self.decision = Histogram()
        self.scores: list[ScoreChange] = list(svc.score_history[-HISTORY:])  # resumed: from the log
        self.false_starts: list[dict[str, Any]] = []  # the current question's
        self.question = -1
        self._scores: dict[str, int] | None = dict(svc.engine.view().get("scores", {}))
        self.seq = 0
        self._decisions_seen = 0
        self._locks_seen = 0
        self._part: Part | None = None
        self.stopping = asyncio.Event()  # the server is closing: live streams end

    def start(self) -> None:
        """Follow the notices in a part the host supervises (restarted if it dies)."""
        if self._part is None and not self.stopping.is_set():
            with contextlib.suppress(RuntimeError):  # the host is stopping: readers catch up
                self._part = self.svc.supervise("web-collector", self._run)

    async def close(self) -> None:
        self.stopping.set()
        part, self._part = self._part, None
        if part is not None:
            part.closing = True
        self.svc.notices.unsubscribe(self.sub)
        if part is not None:
            await self.svc.end(part)

    async def _run(self) -> None:
        async for notice in self.sub:
            self.take(notice)

    def catch_up(self) -> None:
        """Take what is queued now (a reader wants the present, not the last task switch)."""
        while (notice := self.sub.get_nowait()) is not None:
            self.take(notice)

    def take(self, notice: Notice) -> None:
        self.seq = max(self.seq, notice.seq)
        for e in notice.events:
            k = e.get("k")
            if k == "question" and e.get("q") != self.question:
                self.question = int(e.get("q") or 0)
                self.false_starts = []
            elif k == "false_start":
                self.counts["false_starts"] += 1
                self.false_starts.append({**e, "host_us": notice.host_us})
            elif k == "judged":
                self.counts[f"judged:{e.get('result')}"] += 1
            elif k == "question_over":
                self.counts[f"over:{e.get('result')}"] += 1
            elif k == "refused":
                self.counts["refused"] += 1
            elif k == "score":
                entry: ScoreChange = {
                    "player": e["player"], "delta": e["delta"], "total": e["total"], "reason": e["reason"],
                    "seq": notice.seq, "host_us": notice.host_us, "q": notice.view.get("q"),
                }  # fmt: skip
                self.scores.append(entry)
                del self.scores[:-HISTORY]
        self._undone(notice)
        self._take_decisions()

    def _undone(self, notice: Notice) -> None:
        """Score changes an undo or redo made (they restore a snapshot: no score event says so)."""
        scores = notice.view.get("scores", {})
        before, self._scores = self._scores, dict(scores)
        steps = [e for e in notice.events if e.get("k") in ("undo", "redo")]
        if not steps or before is None:
            return
        why = f"{steps[-1]['k']} {steps[-1].get('command') or ''}".strip()
        q = notice.view.get("q")
        self.scores += score_changes(before, scores, lambda _: why, notice.seq, notice.host_us, q)
        del self.scores[:-HISTORY]

    def _take_decisions(self) -> None:
        decisions = self.svc.decisions
        for d in decisions[self._decisions_seen :]:
            self.counts["decisions"] += 1
            if d.is_tie:
                self.counts["ties"] += 1
            for flag in d.flags:
                self.counts[f"flag:{flag}"] += 1
            first = d.evidence.get("first_arrival_us")
            if isinstance(first, int) and d.decided_us >= first:
                self.decision.observe((d.decided_us - first) / 1e6)
        self._decisions_seen = len(decisions)
        sent, lat = self.svc.locks_sent, self.svc.lock_latencies_us
        fresh = min(sent - self._locks_seen, len(lat))
        for us in list(lat)[len(lat) - fresh :] if fresh > 0 else []:
            self.lockout.observe(us / 1e6)
        self._locks_seen = sent


def timeline(svc: HostService, collector: Collector) -> dict[str, Any]:
    """Every press of the current question: ring-in order with bounds and gaps, the order the
    presses arrived in (what Wi-Fi alone would have called), ties with their rule, false starts,
    and the evidence of each decision."""
    g = svc.engine.g
    decisions: list[Decision] = []
    if g.arb is not None:
        # this window's (an undone window's decisions share its epoch, not its start)
        decisions = [d for d in svc.decisions if d.epoch == g.ep and d.decided_us >= g.question_us]
        if g.decision is not None and g.decision not in decisions:  # resumed from the log
            decisions.append(g.decision)
    view = svc.engine.view()
    who = podiums_of(view)
    out = []
    for d in decisions:
        presses = d.evidence.get("presses")
        arrivals: list[str] = []
        if isinstance(presses, list):
            ordered = sorted(
                (p for p in presses if isinstance(p, dict)), key=lambda p: p.get("arrival_us", 0)
            )
            arrivals = [str(p.get("podium")) for p in ordered]
        rows = []
        for r in d.order:
            info = who.get(r.podium, {})
            rows.append(
                {
                    "podium": r.podium,
                    "player": info.get("player") or g.podiums.get(r.podium) or "",
                    "seat": info.get("seat"),
                    "mapped_us": r.mapped_us,
                    "err_us": r.err_us,
                    "gap_us": r.gap_us,
                    "team": r.team,
                    "wifi_rank": arrivals.index(r.podium) + 1 if r.podium in arrivals else None,
                    "tied": r.podium in d.tied,
                }
            )
        out.append(
            {
                "epoch": d.epoch,
                "winner": d.winner,
                "order": rows,
                "tied": list(d.tied),
                "tie_rule": d.tie_rule if d.is_tie else "",
                "flags": sorted(d.flags),
                "decided_us": d.decided_us,
                "evidence": jsonable(d.evidence),
            }
        )
    return {"q": g.q, "decisions": out, "false_starts": list(collector.false_starts)}


def podiums(svc: HostService) -> list[PodiumRow]:
    """The registry with each podium's clock: bound, trust, best round trip, samples, skew."""
    now = now_us()
    out = []
    for item in svc.registry.snapshot():
        pid = item["podium"]
        model = svc.clocks.get(pid)
        item["seen_ago_ms"] = (now - item["last_heard_us"]) // 1000 if item["last_heard_us"] else None
        # the capture bound its presses get, and whether the podium declared it (SPEC §4.8)
        cap_us, source = svc.bridge.capture(pid)
        item["capture"] = {"us": cap_us, "source": source, "declared": source == "declared"}
        if model is not None:
            item["clock"] = {
                "err_us": model.err_us,
                "trusted": model.trusted,
                "samples": model.samples,
                "min_rtt_us": model.min_rtt_us,
                "skew_ppm": round(model.skew_ppm, 3),
            }
        out.append(item)
    return out


def full_state(svc: HostService, collector: Collector, operator: bool = True) -> dict[str, Any]:
    """Everything the console draws. ``operator`` False (a request without the token or a
    session): the question card (text and answer), the podium registry (hardware ids, boot
    nonces, clock errors), the reject counts and the health panel are left out (empty): they
    tell anyone on the network how to spoof a podium or how an attack is going."""
    collector.catch_up()
    engine = svc.engine
    g = engine.g
    now = now_us()
    rules = engine.show.rules
    card = engine.show.question(g.q)

    def left_ms(deadline: int | None) -> int | None:
        return None if deadline is None else max(0, (deadline - now) // 1000)

    state = {
        "game": jsonable(engine.view()),
        "podiums": podiums(svc) if operator else [],
        "rejects": dict(svc.ingest.rejects) if operator else {},
        "connected": svc.connected.is_set(),
        "seq": svc.notices.seq,
        "show": {
            "title": engine.show.title,
            "mode": rules.mode,
            "tie_rule": rules.tie_rule,
            "buzz_window_ms": rules.buzz_window_ms,
            "answer_ms": rules.answer_ms,
            "teams": [t.name for t in engine.show.teams],
            "players": {name: p.team for name, p in g.players.items()},
        },
        # the question card: for the operator only (the game view viewers get has no text)
        "question": {"text": card.text, "answer": card.answer}
        if card and operator
        else {"text": "", "answer": ""},
        "timers": {"buzz_ms_left": left_ms(g.window_deadline), "answer_ms_left": left_ms(g.answer_deadline)},
        "commands": engine.commands_now(),
        "timeline": timeline(svc, collector),
        "score_history": list(collector.scores),
        "adapters": svc.adapters.snapshot(),
        # the pre-show check, until the operator acknowledges it (for the operator only)
        "preflight": preflight_api.listed(svc) if operator else [],
        "health": {
            "broker": {
                "connected": svc.connected.is_set(),
                "host": f"{svc.broker_host}:{svc.broker_port}",
                "reconnects": svc.reconnects,
                "superseded": svc.superseded,
            },
            # a podium's clock bound: green within a quarter of the trust limit, amber within it, red beyond
            "clock_limits": {"good_us": ClockModel.TRUST_ERR_US // 4, "trusted_us": ClockModel.TRUST_ERR_US},
            "lockout_s": collector.lockout.as_dict(),
            "decision_s": collector.decision.as_dict(),
            "counts": dict(collector.counts),
            "subscribers": [
                {"name": s.name, "queue": s.depth, "drops": s.dropped} for s in svc.notices.subscribers
            ],
        },
    }
    if not operator:
        state["health"] = {"broker": {"connected": svc.connected.is_set()}}
    return state


def metric_families(svc: HostService, collector: Collector) -> list[Family]:
    """What ``/metrics`` exposes (names and meanings: docs/console.md)."""
    collector.catch_up()
    c = collector.counts
    judged = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("judged:")}
    over = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("over:")}
    flags = {k.split(":", 1)[1]: v for k, v in c.items() if k.startswith("flag:")}
    pods = svc.registry.snapshot()
    fams = [
        Family("buzzline_decisions", "counter", "Buzz decisions made.").add(c["decisions"]),
        Family("buzzline_ties", "counter", "Decisions with presses too close to tell apart.").add(c["ties"]),
        Family("buzzline_decision_flags", "counter", "Decisions by flag (tie, timeout, uncertain_clock)."),
        Family(
            "buzzline_timeouts", "counter", "Questions nobody buzzed in time plus answers out of time."
        ).add(over.get("timeout", 0) + judged.get("answer_timeout", 0)),
        Family("buzzline_false_starts", "counter", "Presses before the buzzers opened.").add(
            c["false_starts"]
        ),
        Family("buzzline_judged", "counter", "Answers judged, by result."),
        Family("buzzline_questions_over", "counter", "Questions over without a right answer, by result."),
        Family("buzzline_commands_refused", "counter", "Operator commands the game refused.").add(
            c["refused"]
        ),
        Family("buzzline_rejects", "counter", "Podium messages rejected, by reason."),
        Family(
            "buzzline_lockout_latency_seconds",
            "histogram",
            "From the buzz reaching the host to its lock handed to the broker connection.",
        ).add_histogram(collector.lockout),
        Family(
            "buzzline_decision_latency_seconds",
            "histogram",
            "From the first buzz reaching the host to the decision.",
        ).add_histogram(collector.decision),
        Family("buzzline_podiums_online", "gauge", "Podiums online.").add(
            sum(1 for p in pods if p["online"])
        ),
        Family("buzzline_podium_online", "gauge", "1 when the podium is online."),
        Family(
            "buzzline_podiums_capture_default",
            "gauge",
            "Online podiums whose presses get a default capture bound, not one they declared, by "
            "source (board: the board's default; logged: from the event log; none: no hello yet).",
        ),
        Family(
            "buzzline_podium_clock_bound_seconds", "gauge", "The podium's clock error bound (half-width)."
        ),
        Family("buzzline_broker_connected", "gauge", "1 while the host is connected to the broker.").add(
            1 if svc.connected.is_set() else 0
        ),
        Family("buzzline_broker_reconnects", "counter", "Reconnections to the broker.").add(svc.reconnects),
        Family("buzzline_adapter_drops", "counter", "Notices an adapter's full queue dropped."),
        Family("buzzline_adapter_restarts", "counter", "Adapter restarts after a failure."),
        Family("buzzline_subscriber_drops", "counter", "Notices dropped per notice-bus subscriber."),
    ]
    by = {f.name: f for f in fams}
    for flag, n in sorted(flags.items()):
        by["buzzline_decision_flags"].add(n, flag=flag)
    for result, n in sorted(judged.items()):
        by["buzzline_judged"].add(n, result=result)
    for result, n in sorted(over.items()):
        by["buzzline_questions_over"].add(n, result=result)
    for reason, n in sorted(svc.ingest.rejects.items()):
        by["buzzline_rejects"].add(n, reason=reason)
    defaults = {"board": 0, "logged": 0, "none": 0}
    for p in pods:
        source = svc.bridge.capture(p["podium"])[1]
        if p["online"] and source in defaults:
            defaults[source] += 1
    for source, n in defaults.items():
        by["buzzline_podiums_capture_default"].add(n, source=source)
    for p in pods:
        by["buzzline_podium_online"].add(1 if p["online"] else 0, podium=p["podium"])
        if p["clock_err_us"] is not None:
            by["buzzline_podium_clock_bound_seconds"].add(p["clock_err_us"] / 1e6, podium=p["podium"])
    for a in svc.adapters.snapshot():
        by["buzzline_adapter_drops"].add(a["drops"], adapter=a["name"], kind=a["kind"])
        by["buzzline_adapter_restarts"].add(a["restarts"], adapter=a["name"], kind=a["kind"])
    for s in svc.notices.subscribers:
        by["buzzline_subscriber_drops"].add(s.dropped, subscriber=s.name)
    return fams
