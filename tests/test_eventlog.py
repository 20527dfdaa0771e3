"""The event log: durable appends (a real writer process killed with SIGKILL), append-only
table, clear errors, and the dataclass <-> record helpers on the core's real types."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from buzzline.core import events as ev
from buzzline.core.types import Decided, Decision, LockAll, Press, PressRejected, RingIn
from buzzline.io.eventlog import (
    FORMAT,
    EventLog,
    EventLogError,
    RecordError,
    from_record,
    register,
    to_record,
)


def _decision() -> Decision:
    return Decision(
        epoch=3,
        winner="p2",
        order=(
            RingIn("p2", mapped_us=1_000_100, err_us=400, gap_us=0, team="red"),
            RingIn("p1", mapped_us=1_000_350, err_us=900, gap_us=250, team=None),
        ),
        tied=("p2", "p1"),
        tie_rule="random",
        flags=frozenset({"tie", "timeout"}),
        decided_us=1_020_000,
        evidence={
            "presses": [{"podium": "p2", "seq": 7, "mapped_us": 1_000_100, "err_us": 400}],
            "watermarks": {"p1": 1_001_000, "p3": None},
            "draw": {"seed": 42, "picked": "p2"},
        },
    )


def test_append_returns_increasing_seq_and_records_read_back(tmp_path: Path) -> None:
    with EventLog(tmp_path / "show.db", show="Quiz night", studio="s1") as log:
        seqs = [log.append("Command", {"op": "arm", "n": i}, host_us=1000 + i) for i in range(5)]
        assert seqs == sorted(seqs) and len(set(seqs)) == 5
        recs = list(log.records())
        assert [r.seq for r in recs] == seqs
        assert [r.data["n"] for r in recs] == [0, 1, 2, 3, 4]
        assert {r.kind for r in recs} == {"Command"}
        assert [r.host_us for r in recs] == [1000, 1001, 1002, 1003, 1004]
        assert [r.seq for r in log.records(since=seqs[2])] == seqs[3:]
        assert log.last_seq() == seqs[-1]
        meta = log.meta()
    assert meta["show"] == "Quiz night" and meta["studio"] == "s1"
    assert meta["format"] == str(FORMAT) and meta["version"] and meta["created"]


def test_filter_by_kind_and_meta_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    with EventLog(path, show="A") as log:
        log.append("Command", {"op": "arm"}, 1)
        log.append("Decision", {"winner": "p1"}, 2)
        log.set_meta("note", "dress rehearsal")
    # reopening with other arguments must not overwrite what the show was created with
    with EventLog(path, show="B") as log:
        assert [r.kind for r in log.records(kinds=["Decision"])] == ["Decision"]
        assert log.meta()["show"] == "A"
        assert log.meta()["note"] == "dress rehearsal"


def test_wal_and_full_sync_are_on(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    with EventLog(path) as log:
        log.append("X", {}, 0)
        assert log._db.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        other = sqlite3.connect(path)
        try:
            assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        finally:
            other.close()


def test_log_is_append_only(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    with EventLog(path) as log:
        log.append("Command", {"op": "award", "points": 100}, 5)
    db = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute('UPDATE records SET data = \'{"op":"award","points":1000}\'')
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            db.execute("DELETE FROM records")
    finally:
        db.close()
    with EventLog(path, readonly=True) as log:
        assert [r.data["points"] for r in log.records()] == [100]


def test_readonly_reader_sees_appends_while_writer_is_open(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    with EventLog(path) as w:
        w.append("A", {"i": 1}, 1)
        with EventLog(path, readonly=True) as r:
            assert len(list(r.records())) == 1
            w.append("A", {"i": 2}, 2)
            assert [x.data["i"] for x in r.records()] == [1, 2]
            with pytest.raises(EventLogError, match="read-only"):
                r.append("A", {}, 3)


def test_bad_inputs_give_clear_errors(tmp_path: Path) -> None:
    with EventLog(tmp_path / "show.db") as log:
        with pytest.raises(EventLogError, match="not JSON-serialisable"):
            log.append("X", {"when": object()}, 1)
        with pytest.raises(EventLogError, match="not JSON-serialisable"):
            log.append("X", {"v": float("nan")}, 1)
        with pytest.raises(EventLogError, match="kind"):
            log.append("", {}, 1)
        with pytest.raises(EventLogError, match="host_us"):
            log.append("X", {}, 1.5)  # type: ignore[arg-type]
        assert list(log.records()) == []  # nothing half-written
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(EventLogError, match="not a Buzzline event log"):
        EventLog(junk)
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(EventLogError, match="tables meta/records missing"):
        EventLog(other, readonly=True)
    with pytest.raises(EventLogError, match="no such event log"):
        EventLog(tmp_path / "missing.db", readonly=True)


def test_one_writer_per_log(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    with EventLog(path) as first:
        first.append("X", {"n": 1}, 1)
        with pytest.raises(EventLogError, match=rf"in use by another process \(pid {os.getpid()}\)"):
            EventLog(path)
        with EventLog(path, readonly=True) as reader:  # replay and reports still read it
            assert [r.data for r in reader.records()] == [{"n": 1}]
        assert first.path.with_name("show.db.lock").exists()
    assert not (tmp_path / "show.db.lock").exists()  # released and tidied on close
    with EventLog(path) as again:  # the next host takes it
        assert len(list(again.records())) == 1


def test_newer_format_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    EventLog(path).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = ? WHERE key = 'format'", (str(FORMAT + 1),))
    db.commit()
    db.close()
    with pytest.raises(EventLogError, match="newer"):
        EventLog(path, readonly=True)


# ---- durability: a writer killed with SIGKILL loses nothing it reported as appended ----

_WRITER = textwrap.dedent(
    """
    import sys
    from buzzline.io.eventlog import EventLog
    log = EventLog(sys.argv[1], show="kill test")
    i = 0
    while True:
        seq = log.append("Press", {"i": i, "podium": "p%d" % (i % 4), "pad": "x" * (i % 50)}, host_us=i)
        sys.stdout.write("%d %d\\n" % (seq, i))
        sys.stdout.flush()
        i += 1
    """
)


def test_sigkill_mid_stream_keeps_every_returned_append(tmp_path: Path) -> None:
    path = tmp_path / "show.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    confirmed: dict[int, int] = {}
    try:
        assert proc.stdout is not None
        while len(confirmed) < 300:
            line = proc.stdout.readline()
            if not line:
                pytest.fail(f"writer died early: {proc.stderr.read() if proc.stderr else ''}")
            seq, i = map(int, line.split())
            confirmed[seq] = i
        # the writer is still appending as fast as it can when it is killed
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        # lines written before the kill that we have not read yet were also confirmed
        for line in proc.stdout.read().splitlines():
            if line.count(" ") == 1:
                seq, i = map(int, line.split())
                confirmed[seq] = i
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
    assert proc.returncode == -signal.SIGKILL
    with EventLog(path) as log:  # reopen for writing: recovers the WAL like a restarted host
        found = {r.seq: r for r in log.records()}
        assert log.meta()["show"] == "kill test"
        seq = log.append("After", {}, 0)
    missing = sorted(set(confirmed) - set(found))
    assert missing == [], f"{len(missing)} confirmed appends lost, first {missing[:5]}"
    for s, i in confirmed.items():
        assert found[s].data["i"] == i and found[s].host_us == i
    # the log is a gapless sequence: nothing half-written in the middle
    assert sorted(found) == list(range(1, len(found) + 1))
    assert seq == len(found) + 1


# ---- dataclasses <-> records ----


def test_decision_round_trips_through_the_log(tmp_path: Path) -> None:
    d = _decision()
    kind, data = to_record(d)
    assert kind == "Decision"
    # plain JSON a report can read without the classes
    assert data["order"][1] == {
        "podium": "p1",
        "mapped_us": 1_000_350,
        "err_us": 900,
        "gap_us": 250,
        "team": None,
    }
    assert data["flags"] == ["tie", "timeout"]
    assert data["tied"] == ["p2", "p1"]
    with EventLog(tmp_path / "show.db") as log:
        log.append_obj(d, host_us=d.decided_us)
        (rec,) = log.records()
    back = from_record(rec.kind, rec.data)
    assert back == d
    assert isinstance(back.order, tuple) and isinstance(back.order[0], RingIn)
    assert isinstance(back.flags, frozenset)


@pytest.mark.parametrize(
    "obj",
    [
        Decided(_decision()),
        LockAll(epoch=1, podiums=("p1", "p2"), leader="p1"),
        PressRejected("p3", 9, "late"),
        Press("p1", 4, podium_us=123, mapped_us=456, err_us=7, arrival_us=999, trusted=False, team="red"),
        Decision(epoch=0, winner=None, order=()),
        # the game engine's inputs and effects, as the host service logs them
        ev.PodiumPress("p2", 11, podium_us=5, mapped_us=6, err_us=7, trusted=True, arrival_us=8),
        ev.PodiumOnline("p1", {"fw": "1.0", "rssi": -60, "batt": None}),
        ev.Command("judge", {"correct": False}),
        ev.DecisionMade(_decision()),
        ev.Lock(4, ("p1", "p2", "p3")),
        ev.StateChanged(),
        ev.Light("all", "blink", colour=None, dur_ms=300),
    ],
)
def test_core_types_round_trip(obj: object) -> None:
    kind, data = to_record(obj)
    assert from_record(kind, json.loads(json.dumps(data))) == obj


@dataclass(frozen=True)
class _Envelope:
    """A game-engine-like event holding another event in an untyped field."""

    name: str
    inner: object
    effects: tuple[LockAll | PressRejected, ...] = ()
    scores: dict[str, int] | None = None


def test_untyped_and_union_fields_carry_their_kind() -> None:
    register(_Envelope)
    env = _Envelope(
        "wrap",
        inner=RingIn("p1", 1, 2, 0),
        effects=(LockAll(2, ("p1",), "p1"), PressRejected("p2", 1, "late")),
        scores={"p1": 100, "p2": -50},
    )
    kind, data = to_record(env)
    assert data["inner"]["__kind__"] == "RingIn"
    assert [e["__kind__"] for e in data["effects"]] == ["LockAll", "PressRejected"]
    assert from_record(kind, json.loads(json.dumps(data))) == env


def test_record_errors_are_clear() -> None:
    with pytest.raises(RecordError, match="unknown record kind 'Nope'"):
        from_record("Nope", {})
    with pytest.raises(RecordError, match="field 'seq' of PressRejected is missing"):
        from_record("PressRejected", {"podium": "p1", "reason": "late"})
    with pytest.raises(RecordError, match="unknown fields"):
        from_record("PressRejected", {"podium": "p1", "seq": 1, "reason": "late", "extra": 1})
    with pytest.raises(RecordError, match="expected int, got str"):
        from_record("PressRejected", {"podium": "p1", "seq": "1", "reason": "late"})
    with pytest.raises(RecordError, match="dataclass instance"):
        to_record({"not": "a dataclass"})
    with pytest.raises(RecordError, match="cannot log a bytes"):
        to_record(Decision(epoch=0, winner=None, order=(), evidence={"raw": b"\x00"}))
