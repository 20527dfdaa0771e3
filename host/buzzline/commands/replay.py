"""`buzzline replay SHOW.db`: print a show log's timeline, one line per record (time, kind, summary)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from buzzline.io.eventlog import EventLog, EventLogError, Record, RecordError
from buzzline.showreport import DECISION_KINDS, decision_of

NAME = "replay"
HELP = "print the timeline of a show's event log"

SUMMARY_WIDTH = 100


def _clip(text: str, width: int = SUMMARY_WIDTH) -> str:
    return text if len(text) <= width else text[: width - 3] + "..."


def _scalar(v: Any) -> str:
    if isinstance(v, str):
        return v
    return json.dumps(v, separators=(",", ":"), sort_keys=True)


def _fields(data: dict[str, Any]) -> str:
    return " ".join(f"{k}={_scalar(v)}" for k, v in data.items() if k != "__kind__")


def summarise(rec: Record) -> str:
    """A short human summary of one record; decisions get the winner, order and gaps."""
    data = rec.data
    if rec.kind in DECISION_KINDS:
        try:
            d = decision_of(rec)
        except RecordError as e:
            return f"malformed decision: {e}"
        if d.order:
            ranks = ", ".join(
                f"{r.podium} {r.gap_us / 1000:+.3f}ms ±{r.err_us / 1000:.3f}" for r in d.order[1:4]
            )
            lead = d.order[0]
            head = f"winner {d.winner or 'none (operator decides)'} ±{lead.err_us / 1000:.3f}ms"
            if ranks:
                head += f"; then {ranks}" + (" ..." if len(d.order) > 4 else "")
        else:
            head = "no presses"
        extra = []
        if d.is_tie:
            extra.append(f"tie {'/'.join(d.tied)} by {d.tie_rule or '?'}")
        if d.flags:
            extra.append("flags " + ",".join(sorted(d.flags)))
        return _clip(f"epoch {d.epoch}: {head}" + ("; " + "; ".join(extra) if extra else ""))
    label = ""
    if isinstance(data.get("type"), str) and isinstance(data.get("event"), dict):
        # the host service's input envelope: {"type": kind, "event": fields, "now_us": t}
        label, data = data["type"] + " ", data["event"]
    if "Command" in (rec.kind, label.strip()) and isinstance(data.get("name"), str):
        args = data.get("args")
        return _clip(label + data["name"] + (" " + _fields(args) if isinstance(args, dict) and args else ""))
    if isinstance(data.get("podium"), str):
        rest = {k: v for k, v in data.items() if k != "podium"}
        return _clip(label + data["podium"] + (": " + _fields(rest) if rest else ""))
    return _clip(label + _fields(data))


def timeline(log: EventLog, since: int = 0, kinds: list[str] | None = None) -> list[str]:
    lines = []
    first_us: int | None = None
    for rec in log.records(since=since, kinds=kinds):
        if first_us is None:
            first_us = rec.host_us
        clock = (
            time.strftime("%H:%M:%S", time.localtime(rec.wall_time)) + f".{int(rec.wall_time % 1 * 1000):03d}"
        )
        rel = (rec.host_us - first_us) / 1e6
        lines.append(f"{rec.seq:>6}  {clock}  {rel:+11.3f}s  {rec.kind:<16} {summarise(rec)}")
    return lines


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("log", type=Path, help="the show's event log (SHOW.db)")
    parser.add_argument("--since", type=int, default=0, help="only records after this sequence number")
    parser.add_argument("--kind", action="append", help="only records of this kind (repeatable)")
    parser.add_argument(
        "--state", action="store_true", help="rebuild the game from the log and print its final state (JSON)"
    )


def run(args: argparse.Namespace) -> int:
    if args.state:
        return _state(args.log)
    try:
        with EventLog(args.log, readonly=True) as log:
            meta = log.meta()
            lines = timeline(log, args.since, args.kind)
    except EventLogError as e:
        print(f"buzzline replay: {e}", file=sys.stderr)
        return 2
    show, studio, created = meta.get("show") or "-", meta.get("studio") or "-", meta.get("created", "-")
    head = [
        f"# show {show}, studio {studio}, created {created}, {len(lines)} records",
        f"{'seq':>6}  {'wall clock':<12}  {'host time':>12}  {'kind':<16} summary",
    ]
    return write_stdout("\n".join(head + lines) + "\n")


def _state(path: Path) -> int:
    from buzzline.replay import rebuild

    try:
        with EventLog(path, readonly=True) as log:
            rebuilt = rebuild(log)
    except (EventLogError, ValueError) as e:
        print(f"buzzline replay: {e}", file=sys.stderr)
        return 2
    view: dict[str, Any] = dict(rebuilt.engine.view())
    view["inputs_replayed"] = rebuilt.inputs
    view["digest"] = rebuilt.engine.state_digest()
    return write_stdout(json.dumps(view, indent=1, sort_keys=True) + "\n")


def write_stdout(text: str) -> int:
    """Print ``text``; a reader that stops early (``| head``) is not an error worth a traceback."""
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # what a shell reports for SIGPIPE
    return 0
