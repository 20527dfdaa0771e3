"""`buzzline report SHOW.db --format json|csv|html`: every buzz decision in a show log, with the
evidence that made it (mapped times, error bounds, gaps, tie rule, flags, watermarks)."""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buzzline.core.types import Decision
from buzzline.io.eventlog import EventLog, EventLogError, Record, RecordError, from_record

NAME = "report"
HELP = "list every buzz decision in a show log with its evidence (json, csv or html)"

# Record kinds that carry a decision: the arbiter's Decision itself, or an effect wrapping it
# ({"decision": {...}}), or the host service's envelope {"type": "Decision", "decision": {...}}.
DECISION_KINDS = ("Decision", "DecisionMade", "Decided", "decision")


@dataclass(frozen=True, slots=True)
class LoggedDecision:
    seq: int
    host_us: int
    wall_time: float
    kind: str
    decision: Decision


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


def read_decisions(log: EventLog, problems: list[str]) -> Iterator[LoggedDecision]:
    """Decisions in log order; a malformed one is described in ``problems`` and skipped."""
    for rec in log.records(kinds=DECISION_KINDS):
        try:
            d = decision_of(rec)
        except RecordError as e:
            problems.append(f"record {rec.seq} ({rec.kind}): {e}")
            continue
        yield LoggedDecision(rec.seq, rec.host_us, rec.wall_time, rec.kind, d)


def _ms(us: int | None) -> float | None:
    return None if us is None else round(us / 1000, 3)


def decision_json(ld: LoggedDecision) -> dict[str, Any]:
    """One decision as a report entry: the ring-in order joined with each press's evidence."""
    d = ld.decision
    ev = d.evidence
    presses = {p.get("podium"): p for p in _dicts(ev.get("presses"))}
    order = []
    for place, r in enumerate(d.order, 1):
        p = presses.get(r.podium, {})
        order.append(
            {
                "place": place,
                "podium": r.podium,
                "team": r.team,
                "mapped_us": r.mapped_us,
                "err_us": r.err_us,
                "gap_us": r.gap_us,
                "gap_ms": _ms(r.gap_us),
                "winner": r.podium == d.winner,
                "tied": r.podium in d.tied and d.is_tie,
                "press_seq": p.get("seq"),
                "podium_us": p.get("podium_us"),
                "arrival_us": p.get("arrival_us"),
                "trusted": p.get("trusted"),
            }
        )
    return {
        "record": ld.seq,
        "logged_host_us": ld.host_us,
        "logged_wall_time": ld.wall_time,
        "epoch": d.epoch,
        "winner": d.winner,
        "tied": list(d.tied),
        "tie_rule": d.tie_rule,
        "flags": sorted(d.flags),
        "decided_us": d.decided_us,
        "order": order,
        "watermarks": ev.get("watermarks", {}),
        "wait_us": ev.get("wait_us"),
        "draw": ev.get("draw"),
        "evidence": ev,
    }


def _dicts(x: object) -> list[dict[str, Any]]:
    return [i for i in x if isinstance(i, dict)] if isinstance(x, list) else []


CSV_COLUMNS = (
    "record",
    "epoch",
    "place",
    "podium",
    "team",
    "winner",
    "tied",
    "mapped_us",
    "err_us",
    "gap_ms",
    "press_seq",
    "podium_us",
    "arrival_us",
    "trusted",
    "tie_rule",
    "flags",
    "decided_us",
    "wait_us",
)


def render_json(meta: dict[str, str], entries: list[dict[str, Any]]) -> str:
    return json.dumps({"show": meta, "decisions": entries}, indent=2) + "\n"


def render_csv(entries: list[dict[str, Any]]) -> str:
    """One row per press in each decision's ring-in order."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for e in entries:
        for r in e["order"]:
            row = {**r, **{k: e[k] for k in ("record", "epoch", "tie_rule", "decided_us", "wait_us")}}
            row["flags"] = " ".join(e["flags"])
            w.writerow(["" if row.get(c) is None else row.get(c) for c in CSV_COLUMNS])
    return buf.getvalue()


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em}table{border-collapse:collapse;margin:.5em 0 2em}"
    "td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}td:nth-child(2),th:nth-child(2)"
    "{text-align:left}tr.win{background:#e6ffe6}.flag{color:#a00;font-weight:bold}"
)


def render_html(meta: dict[str, str], entries: list[dict[str, Any]]) -> str:
    esc = html.escape
    title = f"Buzz report: {meta.get('show') or 'show'}"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<p>Studio {esc(meta.get('studio') or '-')}, log created {esc(meta.get('created', ''))}, "
        f"{len(entries)} decisions. Times are host-clock microseconds; an error bound is a half-width.</p>",
    ]
    if not entries:
        out.append("<p>No buzz decisions in this log.</p>")
    for e in entries:
        flags = " ".join(e["flags"])
        out.append(
            f"<h2>Epoch {e['epoch']}: winner {esc(str(e['winner']))}</h2><p>record {e['record']}, "
            f"tie rule {esc(e['tie_rule'] or '-')}, tied {esc(', '.join(e['tied']) or '-')}"
            + (f', flags <span class="flag">{esc(flags)}</span>' if flags else "")
            + (f", waited {e['wait_us']} us" if e["wait_us"] is not None else "")
            + "</p>"
        )
        out.append(
            "<table><tr><th>#</th><th>podium</th><th>team</th><th>mapped us</th><th>&plusmn; us</th>"
            "<th>gap ms</th><th>press seq</th><th>arrival us</th><th>trusted</th></tr>"
        )
        for r in e["order"]:
            cls = ' class="win"' if r["winner"] else ""
            cells = [r["place"], r["podium"], r["team"], r["mapped_us"], r["err_us"], r["gap_ms"]]
            cells += [r["press_seq"], r["arrival_us"], r["trusted"]]
            out.append(
                f"<tr{cls}>"
                + "".join(f"<td>{esc('' if c is None else str(c))}</td>" for c in cells)
                + "</tr>"
            )
        out.append("</table>")
        if e["watermarks"]:
            wm = json.dumps(e["watermarks"], sort_keys=True)
            out.append(f"<p>Watermarks: <code>{esc(wm)}</code></p>")
        if e["draw"]:
            out.append(f"<p>Tie draw: <code>{esc(json.dumps(e['draw'], sort_keys=True))}</code></p>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="the show's event log (SHOW.db)")
    parser.add_argument("--format", choices=("json", "csv", "html"), default="json")
    parser.add_argument("-o", "--out", type=Path, help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    problems: list[str] = []
    try:
        with EventLog(args.log, readonly=True) as log:
            meta = log.meta()
            entries = [decision_json(ld) for ld in read_decisions(log, problems)]
    except EventLogError as e:
        print(f"buzzline report: {e}", file=sys.stderr)
        return 2
    if args.format == "json":
        text = render_json(meta, entries)
    elif args.format == "csv":
        text = render_csv(entries)
    else:
        text = render_html(meta, entries)
    if args.out:
        try:
            args.out.write_text(text)
        except OSError as e:
            print(f"buzzline report: cannot write {args.out}: {e.strerror}", file=sys.stderr)
            return 2
    else:
        from buzzline.commands.replay import write_stdout

        if write_stdout(text):
            return 141
    for p in problems:
        print(f"buzzline report: skipped {p}", file=sys.stderr)
    return 1 if problems else 0
