"""`buzzline report` and `buzzline replay` on a show log built here from real core objects."""

from __future__ import annotations

import json
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


def test_a_log_without_its_show_is_reported_decision_by_decision(show_db: Path, capsys: Any) -> None:
    rc, out, err = _run(capsys, "report", str(show_db), "--format", "json")
    assert rc == 0, err
    rep = json.loads(out)
    assert rep["show"]["title"] == "Friday Quiz" and rep["context"].startswith("decisions only")
    # no show record, so no question numbers: one entry per epoch, decisions in log order
    assert [(q["number"], q["epoch"]) for q in rep["questions"]] == [
        (None, 1),
        (None, 2),
        (None, 3),
        (None, 4),
    ]
    tie = rep["questions"][0]["parts"][0]["decision"]
    assert tie["record"] == 3 and tie["winner"] == {"podium": "p2", "player": None}
    assert tie["tie"]["rule"] == "random" and tie["tie"]["draw"] == {
        "seed": 42,
        "among": ["p1", "p2"],
        "picked": "p2",
    }
    assert [(r["place"], r["podium"], r["gap_ms"], r["bound_ms"], r["press_seq"]) for r in tie["order"]] == [
        (1, "p2", 0.0, 0.4, 7),
        (2, "p1", -0.25, 0.9, 3),
    ]
    clear = rep["questions"][1]["parts"][0]["decision"]
    assert [f["flag"] for f in clear["flags"]] == ["timeout", "uncertain_clock"]
    assert "not yet trusted" in clear["flags"][1]["in_words"]
    assert clear["waited_ms"] == 150.0 and [r["trusted"] for r in clear["order"]] == [False, True]


def test_malformed_decision_is_reported_not_fatal(show_db: Path, capsys: Any) -> None:
    with EventLog(show_db) as log:
        log.append("DecisionMade", {"decision": {"epoch": "four"}}, 10_000_000)
    rc, out, err = _run(capsys, "report", str(show_db))
    assert rc == 1
    assert len(json.loads(out)["questions"]) == 4
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
