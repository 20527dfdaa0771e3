"""`buzzline report SHOW.db [--format json|csv|html] [--question N]`: the judge's report of a show:
per question and reopening, who won, the ring-in order with reaction times, gaps and ± bounds in
ms, false starts, ties and flags in words, and each podium's clock quality (`buzzline.showreport`)."""

from __future__ import annotations

import argparse
import csv
import html
import io
import json
import sys
from pathlib import Path
from typing import Any

from buzzline.errors import UserError
from buzzline.io.eventlog import EventLog
from buzzline.showreport import build_report, decisions

NAME = "report"
HELP = "the judge's report of a show log: every question and buzz with its evidence (html, json, csv)"

CSV_COLUMNS = (
    "question",
    "round",
    "part",
    "reopening",
    "row",
    "place",
    "player",
    "podium",
    "team",
    "winner",
    "tied",
    "pressed_at",
    "reaction_ms",
    "gap_ms",
    "bound_ms",
    "before_arm_ms",
    "lockout_ms",
    "tie_rule",
    "draw",
    "flags",
    "waited_ms",
    "decided_at",
    "record",
)


def render_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2) + "\n"


def render_csv(report: dict[str, Any]) -> str:
    """One row per ring-in (``row`` = ring_in) and per false start (``row`` = false_start)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, CSV_COLUMNS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for q in report["questions"]:
        head = {"question": q["number"] if q["number"] is not None else "", "round": q["round"] or ""}
        for fs in q["false_starts"]:
            w.writerow({**head, "row": "false_start", **_blank(fs)})
        for p in q["parts"]:
            d = p["decision"]
            if d is None:
                continue
            tie = d["tie"] or {}
            common = {
                **head,
                "part": p["part"],
                "reopening": p["reopening"],
                "tie_rule": tie.get("rule", ""),
                "draw": json.dumps(tie["draw"], sort_keys=True) if tie.get("draw") else "",
                "flags": "; ".join(f["in_words"] for f in d["flags"]),
                "waited_ms": _cell(d["waited_ms"]),
                "decided_at": d["decided_at"],
                "record": d["record"],
            }
            for r in d["order"]:
                w.writerow({**common, "row": "ring_in", **_blank(r)})
    return buf.getvalue()


def _cell(v: object) -> object:
    return "" if v is None else v


def _blank(row: dict[str, Any]) -> dict[str, Any]:
    return {k: _cell(v) for k, v in row.items()}


_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#111}
h1{margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:2px solid #333}
h3{margin:1em 0 .3em}table{border-collapse:collapse;margin:.4em 0 1em}
td,th{border:1px solid #bbb;padding:.2em .6em;text-align:right}
td.l,th.l{text-align:left}tr.win{background:#e6ffe6;font-weight:bold}
.flag{color:#a00}.muted{color:#555}.fs{background:#fff3e0}
section.q{page-break-inside:avoid;break-inside:avoid}
@media print{body{margin:0;font-size:10pt}a{color:inherit}
 h2{page-break-after:avoid;break-after:avoid}tr.win{background:none;outline:2px solid #000}
 section.q{page-break-inside:avoid}.noprint{display:none}}
"""


def _e(v: object) -> str:
    return html.escape("" if v is None else str(v))


def _who(x: dict[str, Any] | None) -> str:
    if not x:
        return "nobody"
    name, pid = x.get("player"), x.get("podium")
    return f"{_e(name)} <span class=muted>({_e(pid)})</span>" if name else _e(pid)


def _num(v: float | None, signed: bool = False) -> str:
    if v is None:
        return ""
    return f"{v:+.3f}" if signed else f"{v:.3f}"


def _clock(iso: str | None) -> str:
    return _e(iso[11:23]) if iso else ""  # HH:MM:SS.mmm of an ISO 8601 time


def _decision_html(d: dict[str, Any]) -> list[str]:
    out = [f"<p>Winner: <b>{_who(d['winner'])}</b>, decided at {_clock(d['decided_at'])}"]
    if d["waited_ms"] is not None:
        out[-1] += f", after waiting {_num(d['waited_ms'])} ms for the other podiums"
    out[-1] += ".</p>"
    if d["tie"]:
        t = d["tie"]
        among = ", ".join(_who(x) for x in t["among"])
        rule = f"<i>{_e(t['rule'])}</i> ({_e(t['rule_in_words'])})"
        text = f"<p><b>Tie</b> between {among}: settled by rule {rule}"
        if t["draw"]:
            text += f"; draw with seed {_e(t['draw'].get('seed'))} picked {_e(t['draw'].get('picked'))}"
        out.append(text + ".</p>")
    for f in d["flags"]:
        out.append(f"<p class=flag>Flag <b>{_e(f['flag'])}</b>: {_e(f['in_words'])}.</p>")
    out.append(
        "<table><tr><th>#</th><th class=l>player</th><th class=l>team</th><th>pressed at</th>"
        "<th>reaction ms<br>(from arm)</th><th>gap ms<br>(after winner)</th><th>&plusmn; ms</th>"
        "<th>arrived ms<br>(after press)</th><th class=l>clock</th></tr>"
    )
    for r in d["order"]:
        cls = " class=win" if r["winner"] else ""
        trusted = "trusted" if r["trusted"] is not False else "not yet trusted"
        if r["recovered"]:
            trusted += "; recovered from its lock acknowledgement"
        out.append(
            f"<tr{cls}><td>{r['place']}</td><td class=l>{_who(r)}</td><td class=l>{_e(r['team'])}</td>"
            f"<td>{_clock(r['pressed_at'])}</td><td>{_num(r['reaction_ms'])}</td>"
            f"<td>{_num(r['gap_ms'], signed=True)}</td><td>&plusmn;{_num(r['bound_ms'])}</td>"
            f"<td>{_num(r['arrived_after_ms'])}</td><td class=l>{trusted}</td></tr>"
        )
    out.append("</table>")
    if d["watermarks"]:
        lead = d["order"][0] if d["order"] else None
        at = f" (at {_num(lead['reaction_ms'])} ms after the buzzers opened)" if lead else ""
        heard: list[str] = []
        short: list[str] = []
        for w in d["watermarks"]:
            how = "acknowledged the lock" if w["acknowledged_lock"] else "was heard from"
            if w["past_ms"] is None:
                text = f"{_who(w)} had not been heard from since the buzzers opened"
            else:
                when = f"up to {_num(w['past_ms'])} ms after the buzzers opened"
                text = f"{_who(w)} {how} {when} (&plusmn;{_num(w['bound_ms'])} ms)"
            (heard if w["past_winner"] else short).append(text)
        if heard:
            out.append(
                f"<p class=muted>Heard from after the winner's press{at}, so no earlier press of theirs "
                "could still arrive: " + "; ".join(heard) + ".</p>"
            )
        if short:
            out.append(
                f"<p class=muted>Not yet heard from past the winner's press{at} when the call was made, "
                "so an earlier press of theirs could still have been on its way: "
                + "; ".join(short)
                + ".</p>"
            )
    if d["settled"]:
        out.append(f"<p class=flag>The provisional call was {_e(d['settled']['in_words'])}.</p>")
    return out


def render_html(report: dict[str, Any]) -> str:
    show = report["show"]
    title = f"Buzz report: {show['title'] or 'show'}"
    out = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f"<p>Studio {_e(show['studio'] or '-')}, log created {_e(show['created'])}. "
        "Times are in milliseconds; reaction time counts from the moment the buzzers opened (arm); "
        "a gap is the time after the winner's press; &plusmn; is the error bound of a press time. "
        "Clock times are the host's.</p>",
    ]
    if report["context"] != "replayed":
        out.append("<p class=flag>This log has no show record: questions are numbered by epoch.</p>")
    if not report["questions"]:
        out.append("<p>No questions were played in this log.</p>")
    for q in report["questions"]:
        label = f"Question {q['number']}" if q["number"] is not None else f"Epoch {q['epoch']}"
        parts = [label]
        if q["round"]:
            parts.append(_e(q["round"]))
        if q["value"]:
            parts.append(f"{q['value']} points")
        out.append(f"<section class=q><h2>{' &middot; '.join(parts)}</h2>")
        if q["text"]:
            out.append(f"<p><i>{_e(q['text'])}</i></p>")
        if q["answer"]:
            out.append(f"<p class=muted>Answer on the card: {_e(q['answer'])}</p>")
        for fs in q["false_starts"]:
            before = (
                f" {_num(fs['before_arm_ms'])} ms before the buzzers opened" if fs["before_arm_ms"] else ""
            )
            out.append(
                f"<p class=fs>False start: {_who(fs)} pressed{before} at {_clock(fs['pressed_at'])}, "
                f"locked out for {_e(fs['lockout_ms'])} ms.</p>"
            )
        for p in q["parts"]:
            head = "Reopened" if p["reopening"] else "Buzzers open"
            if p["reopening"] and p["locked_out"]:
                head += " (without " + ", ".join(_who(x) for x in p["locked_out"]) + ")"
            out.append(f"<h3>{head} at {_clock(p['armed_at'])}</h3>")
            if p["decision"] is None:
                out.append("<p>Nobody buzzed.</p>")
            else:
                if p["overturned"]:
                    first = p["overturned"]
                    out.append(
                        f"<p class=flag>A provisional call named {_who(first['winner'])} at "
                        f"{_clock(first['decided_at'])}; an earlier press arrived and overturned it:</p>"
                    )
                out += _decision_html(p["decision"])
            j = p["judged"]
            if j:
                out.append(f"<p>{_e(j['player'] or j['podium'] or 'The player')} {_e(j['in_words'])}.</p>")
        if q["result_in_words"]:
            out.append(f"<p>Result: {_e(q['result_in_words'])}.</p>")
        if q["scores"]:
            sc = ", ".join(f"{_e(s['player'])} {s['delta']:+d} (now {s['total']})" for s in q["scores"])
            out.append(f"<p>Scores: {sc}.</p>")
        for n in q["notes"]:
            out.append(f"<p class=muted>{_e(n)}</p>")
        out.append("</section>")
    if report["clock_quality"]:
        out.append("<h2>Clock quality per podium</h2>")
        out.append(
            "<table><tr><th class=l>player</th><th>presses</th><th>median &plusmn; ms</th>"
            "<th>worst &plusmn; ms</th><th>presses before the clock was trusted</th></tr>"
        )
        for c in report["clock_quality"]:
            out.append(
                f"<tr><td class=l>{_who(c)}</td><td>{c['presses']}</td><td>{_num(c['median_bound_ms'])}</td>"
                f"<td>{_num(c['worst_bound_ms'])}</td><td>{c['untrusted_presses']}</td></tr>"
            )
        out.append("</table>")
    flags = {f["flag"]: f["in_words"] for _q, _p, d in decisions(report) for f in d["flags"]}
    if flags:
        out.append("<h2>What the flags mean</h2><ul>")
        out += [f"<li><b>{_e(k)}</b>: {_e(v)}</li>" for k, v in sorted(flags.items())]
        out.append("</ul>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="the show's event log (SHOW.db)")
    parser.add_argument("--format", choices=("html", "json", "csv"), default="json")
    parser.add_argument("--question", type=int, metavar="N", help="only question N")
    parser.add_argument("-o", "--out", type=Path, help="write here instead of standard output")


def run(args: argparse.Namespace) -> int:
    problems: list[str] = []
    with EventLog(args.log, readonly=True) as log:  # EventLogError: one line from the CLI
        report = build_report(log, problems)
    if args.question is not None:
        numbers = [q["number"] for q in report["questions"] if q["number"] is not None]
        report["questions"] = [q for q in report["questions"] if q["number"] == args.question]
        if not report["questions"]:
            raise UserError(f"--question {args.question}", "no such question in this log", _range(numbers))
    render = {"json": render_json, "csv": render_csv, "html": render_html}[args.format]
    text = render(report)
    if args.out:
        try:
            args.out.write_text(text)
        except OSError as e:
            raise UserError(f"-o {args.out}", e.strerror or str(e)) from None
    else:
        from buzzline.commands.replay import write_stdout

        if write_stdout(text):
            return 141
    for p in problems:
        print(f"buzzline report: skipped {p}", file=sys.stderr)
    return 1 if problems else 0


def _range(numbers: list[int]) -> str:
    return f"it has questions {min(numbers)} to {max(numbers)}" if numbers else "it has no numbered questions"
