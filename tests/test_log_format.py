"""The event log's format outlives the code that wrote it.

``fixtures/show-format1-0.1.0.db`` was written by Buzzline 0.1.0 (`buzzline demo --headless
--podiums 3 --questions 3 --seed 7 --log ...`, before record names had their own table): this
host replays it to the same game, reports its decisions and prints its timeline. A copy with a
record of a kind added later is replayed with that record skipped and counted; one with an input
of a type this host does not know stops the rebuild with one line naming the record."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from buzzline.core import events as ev
from buzzline.io import recordkinds
from buzzline.io.eventlog import FORMAT, EventLog, EventLogError, to_record
from buzzline.replay import rebuild
from buzzline.showreport import build_report, decisions

FIXTURE = Path(__file__).parent / "fixtures" / "show-format1-0.1.0.db"
BUZZLINE = [sys.executable, "-m", "buzzline.cli"]

# The names logs of format 1 are written with. A name may be added; none may change or go.
FORMAT1_NAMES = {
    "PodiumPress", "PodiumWatermark", "PodiumOnline", "PodiumOffline", "PodiumHello", "Command",
    "Decision", "RingIn", "FalseStart", "Mapping", "Press", "LockAll", "Decided", "Overturned",
    "PressRejected", "FalseStarted", "Light", "Lock", "Arm", "StateChanged", "DecisionMade",
    "DecisionOverturned", "CommandRefused", "FalseStartPenalty", "Judged", "Reopened",
    "ScoreChanged", "TimerStarted", "TimerExpired", "QuestionOver", "Logged", "Show", "Rules",
    "Player", "Team", "Card", "Round", "Question", "AdapterSpec",
}  # fmt: skip


@pytest.fixture
def old_log(tmp_path: Path) -> Path:
    """A private copy: opening a WAL database, even read-only, may touch files beside it."""
    path = tmp_path / "old.db"
    shutil.copy(FIXTURE, path)
    return path


def add_row(path: Path, kind: str, data: dict[str, object]) -> int:
    """Append a row as a later release would (the append-only triggers allow INSERT)."""
    db = sqlite3.connect(path)
    with db:
        last = db.execute("SELECT MAX(seq), MAX(host_us) FROM records").fetchone()
        db.execute(
            "INSERT INTO records (host_us, wall_time, kind, data) VALUES (?, 0, ?, ?)",
            (last[1] + 1, kind, json.dumps(data)),
        )
    db.close()
    return int(last[0]) + 1


def test_the_names_of_format_1_stay() -> None:
    assert FORMAT == recordkinds.FORMAT == 1
    assert set(recordkinds.TYPES) >= FORMAT1_NAMES
    assert recordkinds.ROW_KINDS == ("show", "input", "decision", "tick")


def test_every_input_event_has_a_name_and_logs_under_it() -> None:
    inputs = ev.Event.__args__  # type: ignore[attr-defined]
    named = {cls: name for name, cls in recordkinds.TYPES.items()}
    assert all(cls in named for cls in inputs)
    press = ev.PodiumPress("p1", 1, 10, 10, 500, True, 10)
    assert to_record(press)[0] == named[ev.PodiumPress]


def test_a_renamed_class_still_logs_and_reads_under_its_old_name(monkeypatch: pytest.MonkeyPatch) -> None:
    """The name is the table's, not the class's: a rename in the code changes nothing on disk."""
    renamed = dataclasses.make_dataclass("PodiumBuzz", [("podium", str)], frozen=True)
    monkeypatch.setitem(recordkinds.TYPES, "PodiumOffline", renamed)
    from buzzline.io import eventlog

    monkeypatch.setitem(eventlog._registry, "PodiumOffline", renamed)
    monkeypatch.setitem(eventlog._names, renamed, "PodiumOffline")
    kind, data = to_record(renamed("p1"))
    assert kind == "PodiumOffline" and eventlog.from_record(kind, data) == renamed("p1")


def test_a_log_written_by_0_1_0_replays_to_the_same_game(old_log: Path) -> None:
    with EventLog(old_log, readonly=True) as log:
        assert log.meta()["format"] == "1" and log.meta()["version"] == "0.1.0"
        rebuilt = rebuild(log)
        problems: list[str] = []
        found = [d for _, _, d in decisions(build_report(log, problems))]
    view = rebuilt.engine.view()
    assert view["scores"] == {"Player 1": 300, "Player 2": 100, "Player 3": 200}
    assert (view["phase"], view["q"], rebuilt.inputs) == ("idle", 4, 48)
    assert not rebuilt.skipped
    assert len(found) == 3 and not problems


def test_the_cli_reads_the_old_log(old_log: Path) -> None:
    out = subprocess.run([*BUZZLINE, "replay", str(old_log)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "52 records" in out.stdout and out.stdout.count(" decision ") == 3


def test_a_record_of_a_kind_added_later_is_skipped_and_counted(old_log: Path) -> None:
    seq = add_row(old_log, "audience_vote", {"podium": "p1", "votes": 12})
    with EventLog(old_log, readonly=True) as log:
        rebuilt = rebuild(log)
    assert rebuilt.skipped == {"audience_vote": 1}
    assert rebuilt.engine.view()["scores"] == {"Player 1": 300, "Player 2": 100, "Player 3": 200}
    out = subprocess.run([*BUZZLINE, "replay", str(old_log)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and f"{seq:>6}" in out.stdout and "audience_vote" in out.stdout


def test_an_input_of_an_unknown_type_stops_the_rebuild_with_one_line(old_log: Path) -> None:
    seq = add_row(old_log, "input", {"type": "PodiumWink", "event": {"podium": "p1"}, "now_us": 1})
    with (
        EventLog(old_log, readonly=True) as log,
        pytest.raises(EventLogError, match=f"record {seq}: .*PodiumWink"),
    ):
        rebuild(log)
    out = subprocess.run(
        [*BUZZLINE, "replay", "--state", str(old_log)], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.count("\n") == 1 and f"record {seq}" in out.stderr and "Traceback" not in out.stderr
