"""`buzzline report` and `buzzline replay` on a show log built here from real core objects."""

from __future__ import annotations

import csv
import io
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from buzzline.cli import main as cli_main
from buzzline.core.events import Command, DecisionMade, PodiumPress
from buzzline.core.types import Decided, Decision, RingIn
from buzzline.io.eventlog import EventLog, to_record


def _press_ev(podium: str, seq: int, mapped: int, err: int, trusted: bool = True) -> dict[str, object]:
    return {
        "podium": podium,
        "seq": seq,
        "podium_us": 9_000_000 + mapped,
        "mapped_us": mapped,
        "err_us": err,
        "arrival_us": mapped + 4_000,
        "trusted": trusted,
        "team": None,
    }


# A random-draw tie: p2 and p1 are 250 us apart with 400 + 900 us of error between them.
TIE = Decision(
    epoch=1,
    winner="p2",
    order=(
        RingIn("p2", 1_000_350, 400, 0, "<red>"),
        RingIn("p1", 1_000_100, 900, -250, "blue"),
    ),
    tied=("p1", "p2"),
    tie_rule="random",
    flags=frozenset({"tie"}),
    decided_us=1_020_000,
    evidence={
        "presses": [_press_ev("p1", 3, 1_000_100, 900), _press_ev("p2", 7, 1_000_350, 400)],
        "watermarks": {"p3": {"mapped_us": 1_002_000, "err_us": 300, "seq": 12}},
        "wait_us": 16_000,
        "draw": {"seed": 42, "among": ["p1", "p2"], "picked": "p2"},
    },
)
# A clear first buzz, flagged because p3 never reported past it before the bounded wait.
CLEAR = Decision(
    epoch=2,
    winner="p3",
    order=(RingIn("p3", 5_000_000, 300, 0), RingIn("p1", 5_012_500, 500, 12_500)),
    tied=("p3",),
    tie_rule="earliest",
    flags=frozenset({"timeout", "uncertain_clock"}),
    decided_us=5_200_000,
    evidence={
        "presses": [_press_ev("p3", 20, 5_000_000, 300, trusted=False), _press_ev("p1", 9, 5_012_500, 500)],
        "watermarks": {},
        "wait_us": 150_000,
    },
)
NOBODY = Decision(epoch=3, winner=None, order=(), decided_us=9_000_000)
LATE = Decision(epoch=4, winner="p1", order=(RingIn("p1", 9_500_000, 200, 0),), tie_rule="earliest")


@pytest.fixture
def show_db(tmp_path: Path) -> Path:
    path = tmp_path / "show.db"
    with EventLog(path, show="Friday Quiz", studio="s1") as log:
        log.append_obj(Command("arm"), 990_000)
        log.append_obj(
            PodiumPress("p1", 3, 9_000_000 + 1_000_100, 1_000_100, 900, True, 1_004_100), 1_004_100
        )
        log.append_obj(TIE, TIE.decided_us)  # kind "Decision"
        log.append_obj(Command("judge", {"correct": True}), 1_500_000)
        log.append_obj(DecisionMade(CLEAR), CLEAR.decided_us)  # the game engine's effect
        log.append_obj(Decided(NOBODY), NOBODY.decided_us)  # the arbiter's effect
        # the host service's envelopes
        kind, data = to_record(Command("adjust", {"player": "ann", "delta": -100}))
        log.append("input", {"type": kind, "event": data, "now_us": 9_100_000}, 9_100_000)
        kind, data = to_record(LATE)
        log.append("decision", {"type": kind, "decision": data}, LATE.decided_us)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    rc = cli_main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_json_report_lists_every_decision_with_evidence(show_db: Path, capsys: Any) -> None:
    rc, out, err = _run(capsys, "report", str(show_db), "--format", "json")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["show"]["show"] == "Friday Quiz"
    tie, clear, nobody, late = rep["decisions"]
    assert [d["epoch"] for d in rep["decisions"]] == [1, 2, 3, 4]
    assert [d["record"] for d in rep["decisions"]] == [3, 5, 6, 8]
    assert late["winner"] == "p1" and late["order"][0]["err_us"] == 200
    assert (tie["winner"], tie["tie_rule"], tie["flags"], tie["tied"]) == (
        "p2",
        "random",
        ["tie"],
        ["p1", "p2"],
    )
    assert tie["draw"] == {"seed": 42, "among": ["p1", "p2"], "picked": "p2"}
    assert [(r["place"], r["podium"], r["gap_ms"], r["winner"], r["tied"]) for r in tie["order"]] == [
        (1, "p2", 0.0, True, True),
        (2, "p1", -0.25, False, True),
    ]
    # each place joined with its press from the evidence
    assert [(r["press_seq"], r["err_us"], r["arrival_us"]) for r in tie["order"]] == [
        (7, 400, 1_004_350),
        (3, 900, 1_004_100),
    ]
    assert tie["watermarks"]["p3"]["mapped_us"] == 1_002_000
    assert clear["flags"] == ["timeout", "uncertain_clock"]
    assert [r["trusted"] for r in clear["order"]] == [False, True]
    assert clear["order"][1]["gap_ms"] == 12.5 and clear["wait_us"] == 150_000
    assert nobody["winner"] is None and nobody["order"] == []


def test_csv_report_has_one_row_per_press(show_db: Path, capsys: Any) -> None:
    rc, out, _ = _run(capsys, "report", str(show_db), "--format", "csv")
    assert rc == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [(r["epoch"], r["place"], r["podium"], r["winner"]) for r in rows] == [
        ("1", "1", "p2", "True"),
        ("1", "2", "p1", "False"),
        ("2", "1", "p3", "True"),
        ("2", "2", "p1", "False"),
        ("4", "1", "p1", "True"),
    ]
    assert rows[0]["tie_rule"] == "random" and rows[0]["flags"] == "tie" and rows[0]["team"] == "<red>"
    assert rows[3]["gap_ms"] == "12.5" and rows[2]["flags"] == "timeout uncertain_clock"


class _Cells(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._in_td = False

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag == "tr":
            self.rows.append([])
        self._in_td = tag == "td"
        if tag == "red":
            raise AssertionError("a team name reached the page as markup")

    def handle_endtag(self, tag: str) -> None:
        self._in_td = False

    def handle_data(self, data: str) -> None:
        if self._in_td:
            self.rows[-1].append(data)


def test_html_report_is_escaped_and_has_a_row_per_press(show_db: Path, tmp_path: Path, capsys: Any) -> None:
    page = tmp_path / "report.html"
    rc, out, _ = _run(capsys, "report", str(show_db), "--format", "html", "-o", str(page))
    assert rc == 0 and out == ""
    text = page.read_text()
    assert "Friday Quiz" in text and "&lt;red&gt;" in text
    parser = _Cells()
    parser.feed(text)
    body = [r for r in parser.rows if r]
    assert [r[1] for r in body] == ["p2", "p1", "p3", "p1", "p1"]
    assert body[0][2] == "<red>"  # shown as text, after unescaping


def test_malformed_decision_is_reported_not_fatal(show_db: Path, capsys: Any) -> None:
    with EventLog(show_db) as log:
        log.append("DecisionMade", {"decision": {"epoch": "four"}}, 10_000_000)
    rc, out, err = _run(capsys, "report", str(show_db))
    assert rc == 1
    assert len(json.loads(out)["decisions"]) == 4
    assert "skipped record 9 (DecisionMade): Decision.epoch: expected int, got str" in err


def test_replay_prints_one_line_per_record(show_db: Path, capsys: Any) -> None:
    rc, out, _ = _run(capsys, "replay", str(show_db))
    assert rc == 0
    lines = out.splitlines()
    assert "show Friday Quiz" in lines[0] and "8 records" in lines[0]
    body = lines[2:]
    assert [ln.split()[0] for ln in body] == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert [ln.split()[3] for ln in body] == [
        "Command",
        "PodiumPress",
        "Decision",
        "Command",
        "DecisionMade",
        "Decided",
        "input",
        "decision",
    ]
    assert body[0].split()[2] == "+0.000s"
    assert "+0.030s" in body[2]  # host time relative to the first record
    assert (
        "epoch 1: winner p2" in body[2] and "then p1 -0.250ms" in body[2] and "tie p1/p2 by random" in body[2]
    )
    assert body[3].endswith("judge correct=true")
    assert "p1: seq=3" in body[1]
    assert "epoch 2: winner p3" in body[4] and "flags timeout,uncertain_clock" in body[4]
    assert "epoch 3: no presses" in body[5]
    assert body[6].endswith("Command adjust player=ann delta=-100")
    assert "epoch 4: winner p1 ±0.200ms" in body[7]


def test_replay_filters(show_db: Path, capsys: Any) -> None:
    rc, out, _ = _run(capsys, "replay", str(show_db), "--since", "3", "--kind", "Command")
    assert rc == 0
    body = out.splitlines()[2:]
    assert len(body) == 1 and "judge" in body[0]


@pytest.mark.parametrize("cmd", ["report", "replay"])
def test_missing_or_foreign_file_is_a_clear_error(tmp_path: Path, capsys: Any, cmd: str) -> None:
    rc, _, err = _run(capsys, cmd, str(tmp_path / "nope.db"))
    assert rc == 2 and "no such event log" in err
    junk = tmp_path / "junk.db"
    junk.write_text("hello")
    rc, _, err = _run(capsys, cmd, str(junk))
    assert rc == 2 and "not a Buzzline event log" in err
