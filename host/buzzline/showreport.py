"""The judge's report of a show: every question, each reopening as a part of it, and every buzz
decision with the evidence that made it, in names, milliseconds and clock times.

The event log holds the decisions themselves and every input the engine accepted; replaying the
inputs into a fresh engine (the same path as the host's resume) gives the context a log line does
not carry: question numbers and rounds, arm instants, false starts, judgements, players' names.
A log without its show record is still reported, decision by decision, without that context.

Over 400 lines: one reader of the log per report, so every field a judge sees (names, times,
flags in words, clock quality) is derived in one place for HTML, JSON and CSV alike.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from buzzline.core import events as ev
from buzzline.core.game import GameEngine
from buzzline.core.types import Decision
from buzzline.io.eventlog import EventLog, Record, RecordError, from_record
from buzzline.replay import logged_show

# Record kinds that carry a decision: the arbiter's Decision itself, or an effect wrapping it
# ({"decision": {...}}), or the host service's envelope {"type": "Decision", "decision": {...}}.
DECISION_KINDS = ("Decision", "DecisionMade", "Decided", "decision")

FLAG_WORDS = {
    "tie": "the first presses were closer together than their error bounds allow to tell apart, "
    "so the show's tie rule decided",
    "timeout": "the host stopped waiting for a slow podium when its wait cap (the bounded wait) ran out",
    "provisional": "the call was provisional: an earlier press arriving while the answer was open "
    "would overturn it",
    "overturned": "an earlier press arrived after a provisional call and overturned it",
    "gap_open": "a podium still missing had lost messages (maybe a buzz) that nothing had covered yet",
    "uncertain_clock": "a press came from a podium whose clock was not yet trusted (too few sync "
    "samples), so its bound is wide",
}
TIE_RULE_WORDS = {
    "earliest": "the earliest press wins (press times on the host's clock)",
    "random": "a seeded random draw among the tied",
    "none": "nobody wins a tie: the host asks again",
}
RESULT_WORDS = {
    "correct": "answered correctly",
    "incorrect": "answered wrong",
    "answer_timeout": "ran out of time to answer",
    "timeout": "nobody buzzed in time",
    "no_buzz": "nobody buzzed",
    "tie": "a tie nobody won",
}


def flag_words(flag: str) -> str:
    return FLAG_WORDS.get(flag, f"flag {flag!r} (see docs/timing.md)")


def decision_of(rec: Record) -> Decision:
    """The Decision in a record of one of `DECISION_KINDS`; `RecordError` if it is malformed."""
    kind, data = rec.kind, rec.data
    if kind == "decision":  # envelope: the inner kind says how "decision" is shaped
        kind = data.get("type", "Decision")
    if kind == "Decision":
        fields = data.get("decision") if rec.kind == "decision" else data
    else:
        fields = data.get("decision")
        if rec.kind == "decision" and isinstance(fields, dict):
            fields = fields.get("decision")
    if not isinstance(fields, dict):
        raise RecordError(f"{rec.kind} record has no 'decision' object")
    obj = from_record("Decision", fields)
    if not isinstance(obj, Decision):  # pragma: no cover - the registry maps "Decision" to it
        raise RecordError(f"{rec.kind} record does not hold a Decision")
    return obj


def ms(us: int | float | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


@dataclass
class _Clock:
    """Host µs to wall clock, by the offset of the latest record (both are stamped on each)."""

    offset_s: float = 0.0

    def note(self, rec: Record) -> None:
        self.offset_s = rec.wall_time - rec.host_us / 1e6

    def wall(self, host_us: int | None) -> str | None:
        if host_us is None:
            return None
        t = datetime.datetime.fromtimestamp(self.offset_s + host_us / 1e6).astimezone()
        return t.isoformat(timespec="milliseconds")


class _Builder:
    """Walks the log once, replaying inputs for context and collecting the report."""

    def __init__(self, log: EventLog, problems: list[str]) -> None:
        self.problems = problems
        show = logged_show(log)
        self.engine = GameEngine(show, seed=show_seed(log)) if show is not None else None
        self.show_title = show.title if show is not None else None
        self.clock = _Clock()
        self.questions: list[dict[str, Any]] = []
        self.q: dict[str, Any] | None = None
        self.early: list[dict[str, Any]] = []  # false starts before this question's arm
        self.presses: dict[str, list[tuple[int, bool]]] = {}  # podium -> (err_us, trusted)
        self.replay_broken = self.engine is None
        # a provisional call waiting to be settled: its decision (report form), its arbiter, waited for
        self._open_call: tuple[dict[str, Any], Any, list[str]] | None = None

    # ---- context from the replayed engine ----
    def name(self, podium: str | None) -> str | None:
        if podium is None or self.engine is None:
            return None
        return self.engine.g.podiums.get(podium) or None

    def question(self, number: int | None = None, epoch: int | None = None) -> dict[str, Any]:
        q: dict[str, Any] = {
            "number": number,
            "epoch": epoch,
            "round": None,
            "value": None,
            "text": None,
            "answer": None,
            "read_at": None,
            "result": None,
            "false_starts": [],
            "parts": [],
            "scores": [],
            "notes": [],
        }
        if self.engine is not None and number is not None:
            spec = self.engine.show.question(number)
            if spec is not None:
                q["round"], q["value"] = spec.round or None, spec.value
                q["text"], q["answer"] = spec.text or None, spec.answer or None
        self.questions.append(q)
        self.q = q
        return q

    def part(self, armed_us: int | None, reopening: bool) -> dict[str, Any]:
        q = self.q if self.q is not None else self.question()
        p: dict[str, Any] = {
            "part": len(q["parts"]) + 1,
            "reopening": reopening,
            "armed_us": armed_us,
            "armed_at": self.clock.wall(armed_us),
            "locked_out": [],
            "decision": None,
            "overturned": None,  # a provisional decision an earlier press overturned
            "judged": None,
        }
        q["parts"].append(p)
        return p

    def effects(self, cause: ev.Event | None, effects: list[ev.Effect], now: int) -> None:
        refused = any(isinstance(e, ev.CommandRefused) for e in effects)
        if isinstance(cause, ev.Command) and not refused:
            if cause.name == "read" and self.engine is not None:
                self.question(self.engine.g.q, self.engine.g.ep or None)["read_at"] = self.clock.wall(now)
            elif cause.name == "arm":
                # armed straight from idle (no read): a question of its own, under its own number
                number = self.engine.g.q if self.engine is not None else None
                if self.q is None or (number is not None and self.q["number"] != number):
                    self.question(number, self.engine.g.ep or None if self.engine is not None else None)
                self.part(now, reopening=False)
                for fs in self.early:  # pressed before this arm: say by how much
                    fs["before_arm_ms"] = ms(now - fs["mapped_us"])
                self.early = []
            elif cause.name in ("undo", "redo", "adjust", "assign", "unassign", "end") and self.q is not None:
                args = " ".join(f"{k}={v}" for k, v in sorted(cause.args.items()))
                self.q["notes"].append(f"operator {cause.name} {args}".strip())
        for e in effects:
            if isinstance(e, ev.FalseStartPenalty):
                self.false_start(e)
            elif isinstance(e, ev.Reopened):
                self.part(now, reopening=True)["locked_out"] = [self.player(p) for p in e.locked_out]
            elif isinstance(e, ev.Judged) and self.q is not None and self.q["parts"]:
                if e.correct:
                    self.q["result"] = "correct"
                self.q["parts"][-1]["judged"] = {
                    "podium": e.podium,
                    "player": e.player,
                    "correct": e.correct,
                    "result": e.result,
                    "in_words": RESULT_WORDS.get(e.result, e.result),
                }
            elif isinstance(e, ev.ScoreChanged) and self.q is not None:
                self.q["scores"].append(
                    {"player": e.player, "delta": e.delta, "total": e.total, "reason": e.reason}
                )
            elif isinstance(e, ev.QuestionOver) and self.q is not None:
                self.q["result"] = e.result

    def false_start(self, e: ev.FalseStartPenalty) -> None:
        q = self.q if self.q is not None else self.question()
        armed = q["parts"][-1]["armed_us"] if q["parts"] else None
        fs = {
            **self.named(e.podium),
            "mapped_us": e.mapped_us,
            "pressed_at": self.clock.wall(e.mapped_us),
            "before_arm_ms": None if armed is None else ms(armed - e.mapped_us),
            "lockout_ms": e.lockout_ms,
        }
        q["false_starts"].append(fs)
        if armed is None or (self.engine is not None and self.engine.g.phase == "reading"):
            self.early.append(fs)

    def named(self, podium: str | None) -> dict[str, Any]:
        return {"podium": podium, "player": self.name(podium)}

    def player(self, name: str) -> dict[str, Any]:
        seats = self.engine.g.podiums if self.engine is not None else {}
        return {"podium": next((p for p, n in seats.items() if n == name), None), "player": name}

    # ---- the log ----
    def record(self, rec: Record) -> None:
        self.clock.note(rec)
        if rec.kind in DECISION_KINDS:
            try:
                d = decision_of(rec)
            except RecordError as e:
                self.problems.append(f"record {rec.seq} ({rec.kind}): {e}")
                return
            self.decision(rec, d)
            return
        if rec.kind not in ("input", "tick"):
            return
        try:
            now = int(rec.data["now_us"])
            if rec.kind == "tick":
                cause, effects = None, self.engine.tick(now) if self.engine else []
            else:
                cause = from_record(rec.data["type"], rec.data["event"])
                if isinstance(cause, ev.PodiumPress):
                    self.presses.setdefault(cause.podium, []).append((cause.err_us, cause.trusted))
                effects = self.engine.handle(cause, now) if self.engine else []
        except (KeyError, TypeError, ValueError, RecordError) as e:
            if not self.replay_broken:
                self.problems.append(
                    f"record {rec.seq} ({rec.kind}): cannot replay it ({e}); context stops here"
                )
            self.replay_broken, self.engine = True, None
            return
        self.effects(cause, effects, now)
        self.settle(cause, effects, now)

    def settle(self, cause: ev.Event | None, effects: list[ev.Effect], now: int) -> None:
        """Whether the provisional call is still open: confirmed once every podium it waited for
        reported with no earlier press, or standing unconfirmed once the answer was judged."""
        if self._open_call is None:
            return
        call, arb, waited = self._open_call
        g = self.engine.g if self.engine is not None else None
        if arb.provisional and g is not None and g.arb is arb and g.phase == "answering":
            return  # still open (the engine drops the arbiter once the answer is judged)
        self._open_call = None
        if arb.decision is not None and arb.decision.winner != (call["winner"] or {}).get("podium"):
            return  # overturned: the part says so
        names = ", ".join(self.name(p) or p for p in waited) or "the missing podiums"
        settled_by = (ev.Judged, ev.QuestionOver)
        judged = isinstance(cause, ev.Command) or any(isinstance(e, settled_by) for e in effects)
        if judged:
            how = "stood"
            words = (
                f"never confirmed: the answer was settled before {names} reported; "
                "no earlier press had arrived by then"
            )
        else:
            how = "confirmed"
            words = f"confirmed: {names} reported after all, with no earlier press; the call was final"
        call["settled"] = {"how": how, "at": self.clock.wall(now), "in_words": words}

    def decision(self, rec: Record, d: Decision) -> None:
        q = self.q
        if self.engine is None and (q is None or q["epoch"] != d.epoch):
            q = self.question(None, d.epoch)  # no replay: one question per epoch
        if q is None:
            q = self.question()
        parts = q["parts"]
        arm_us = d.evidence.get("arm_us")
        overturn = "overturned" in d.flags and parts and parts[-1]["decision"] is not None
        if not overturn and (not parts or parts[-1]["decision"] is not None):
            self.part(arm_us if isinstance(arm_us, int) else None, reopening=bool(parts))
        part = parts[-1]
        if not isinstance(arm_us, int):
            arm_us = part["armed_us"]
        if overturn:  # the provisional call this one replaced stays in the report, marked so
            part["overturned"] = part["decision"]
            part["overturned"]["settled"] = {
                "how": "overturned",
                "at": self.clock.wall(d.decided_us),
                "in_words": "overturned: an earlier press arrived while the answer was open",
            }
            self._open_call = None
        part["decision"] = call = self.decision_json(rec, d, arm_us)
        arb = self.engine.g.arb if self.engine is not None else None
        if "provisional" in d.flags and arb is not None and arb.epoch == d.epoch:
            waited = d.evidence.get("waiting_for")
            self._open_call = (call, arb, [str(p) for p in waited] if isinstance(waited, list) else [])

    def decision_json(self, rec: Record, d: Decision, arm_us: int | None) -> dict[str, Any]:
        ev_ = d.evidence
        presses = {p.get("podium"): p for p in _dicts(ev_.get("presses"))}
        recovered = ev_.get("recovered")
        recovered = recovered if isinstance(recovered, list) else []
        order = []
        for place, r in enumerate(d.order, 1):
            p = presses.get(r.podium, {})
            arrival = p.get("arrival_us")
            order.append(
                {
                    "place": place,
                    **self.named(r.podium),
                    "team": r.team,
                    "winner": r.podium == d.winner,
                    "tied": d.is_tie and r.podium in d.tied,
                    "pressed_at": self.clock.wall(r.mapped_us),
                    "reaction_ms": None if arm_us is None else ms(r.mapped_us - arm_us),
                    "gap_ms": ms(r.gap_us),
                    "bound_ms": ms(r.err_us),
                    "arrived_after_ms": ms(arrival - r.mapped_us) if isinstance(arrival, int) else None,
                    "trusted": p.get("trusted"),
                    "recovered": r.podium in recovered,
                    "press_seq": p.get("seq"),
                    "podium_us": p.get("podium_us"),
                    "mapped_us": r.mapped_us,
                    "err_us": r.err_us,
                    "gap_us": r.gap_us,
                    "arrival_us": arrival,
                }
            )
        tie = None
        if d.is_tie:
            tie = {
                "among": [self.named(p) for p in d.tied],
                "rule": d.tie_rule,
                "rule_in_words": TIE_RULE_WORDS.get(d.tie_rule, d.tie_rule),
                "draw": ev_.get("draw"),
            }
        wms = []
        lead = d.order[0] if d.order else None
        acks = ev_.get("lock_acks")
        acks = acks if isinstance(acks, list) else []
        for pid, wm in sorted(_items(ev_.get("watermarks"))):
            mapped = wm.get("mapped_us")
            past = mapped - arm_us if isinstance(mapped, int) and arm_us is not None else None
            err_us = wm.get("err_us")
            err = err_us if isinstance(err_us, int) else 0
            # heard from past the winner's press, both bounds included: no earlier press can follow
            covers = (
                lead is None
                or pid == lead.podium
                or (isinstance(mapped, int) and mapped - err > lead.mapped_us + lead.err_us)
            )
            wms.append(
                {
                    **self.named(pid),
                    "past_ms": ms(past),
                    "bound_ms": ms(wm.get("err_us")),
                    "seq": wm.get("seq"),
                    "acknowledged_lock": pid in acks,
                    "past_winner": covers,
                }
            )
        waited_for = ev_.get("waiting_for")
        heard = {w["podium"] for w in wms}
        for pid in waited_for if isinstance(waited_for, list) else []:
            if pid not in heard:  # not heard from at all in this window when the call was made
                wms.append(
                    {**self.named(pid), "past_ms": None, "bound_ms": None, "seq": None}
                    | {"acknowledged_lock": False, "past_winner": False}
                )
        wait = ev_.get("wait_us")
        return {
            "record": rec.seq,
            "epoch": d.epoch,
            "decided_at": self.clock.wall(d.decided_us) if d.decided_us else self.clock.wall(rec.host_us),
            "winner": self.named(d.winner) if d.winner else None,
            "order": order,
            "tie": tie,
            "flags": [{"flag": f, "in_words": flag_words(f)} for f in sorted(d.flags)],
            "waited_ms": ms(wait) if isinstance(wait, int) else None,
            "watermarks": wms,
            "settled": None,  # a provisional call: how it ended (confirmed, stood, overturned)
            "evidence": ev_,
        }

    def clock_quality(self) -> list[dict[str, Any]]:
        out = []
        for pid, presses in sorted(self.presses.items()):
            errs = [e for e, _ in presses]
            out.append(
                {
                    **self.named(pid),
                    "presses": len(presses),
                    "median_bound_ms": ms(statistics.median(errs)),
                    "worst_bound_ms": ms(max(errs)),
                    "untrusted_presses": sum(1 for _, t in presses if not t),
                }
            )
        return out


def show_seed(log: EventLog) -> int:
    """The seed the host ran with, read back from a logged random tie draw (the engine seeds each
    epoch's arbiter with ``seed * 1_000_003 + epoch``, core/game.py); 0 when no draw was logged,
    and then the seed changed nothing. The replay must draw as the host did to name who answered."""
    for rec in log.records(kinds=DECISION_KINDS):
        try:
            d = decision_of(rec)
        except RecordError:
            continue
        draw = d.evidence.get("draw")
        drawn = draw.get("seed") if isinstance(draw, dict) else None
        if isinstance(drawn, int):
            seed, rest = divmod(drawn - d.epoch, 1_000_003)
            if rest == 0:
                return seed
    return 0


def _dicts(x: object) -> list[dict[str, Any]]:
    return [i for i in x if isinstance(i, dict)] if isinstance(x, list) else []


def _items(x: object) -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(x, dict):
        for k, v in x.items():
            if isinstance(v, dict):
                yield str(k), v


def build_report(log: EventLog, problems: list[str]) -> dict[str, Any]:
    """The whole report as plain JSON data; a malformed record is described in ``problems``."""
    b = _Builder(log, problems)
    for rec in log.records():
        b.record(rec)
    meta = log.meta()
    questions = [q for q in b.questions if q["parts"] or q["false_starts"]]
    for q in questions:
        q["result_in_words"] = RESULT_WORDS.get(q["result"], q["result"]) if q["result"] else None
        for p in q["parts"]:
            p.pop("armed_us", None)
    return {
        "show": {
            "title": b.show_title or meta.get("show") or None,
            "studio": meta.get("studio") or None,
            "created": meta.get("created"),
            "buzzline": meta.get("version"),
        },
        "units": "times in ms; a bound is the ± half-width of the error; clock times are the host's",
        "context": "replayed" if b.show_title is not None else "decisions only (no show record)",
        "questions": questions,
        "clock_quality": b.clock_quality(),
    }


def decisions(report: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], dict[str, Any]]]:
    """(question, part, decision) for every decision in the report, in order."""
    for q in report["questions"]:
        for p in q["parts"]:
            if p["decision"] is not None:
                yield q, p, p["decision"]
