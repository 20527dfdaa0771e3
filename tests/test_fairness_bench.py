"""Smoke test of `buzzline bench fairness` and `bench core`: JSON shape and sane figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from buzzline.cli import main
from buzzline.sim.netmodel import PROFILE_DIR, load_profile
from buzzline.sim.races import RaceSim


def test_fairness_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness", "--profile", "wifi", "--trials", "60", "--seed", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == {
        "profile",
        "seed",
        "trials",
        "host_asymmetry",
        "races_by_gap_ms",
        "systems",
        "by_board",
        "resolved",
    }
    assert r["profile"] == "wifi" and r["trials"] == 60 and r["seed"] == 3
    assert sum(r["races_by_gap_ms"].values()) == 60
    assert r["resolved"]["groups"][0]["up"]["floor_ms"] == 1.5 and r["resolved"]["podiums"] == 4
    assert set(r["systems"]) == {"buzzline", "arrival_order", "fixed_window"}
    for name, s in r["systems"].items():
        keys = {"accuracy_by_gap_ms", "wrong_rate", "tie_rate", "overturn_rate", "provisional_rate"}
        keys |= {"decision_latency_ms", "by_gap_ms"}
        extra = {"clock_error_us", "bound_coverage", "presses"} if name == "buzzline" else set()
        assert set(s) == keys | extra
        assert list(s["accuracy_by_gap_ms"]) == ["0-0.5", "0.5-1", "1-2", "2-5", "5-20", "20+"]
        assert 0 <= s["wrong_rate"] <= 1 and 0 <= s["tie_rate"] <= 1
        assert s["decision_latency_ms"]["p50"] <= s["decision_latency_ms"]["p99"]
        for label, b in s["by_gap_ms"].items():
            assert b["races"] == r["races_by_gap_ms"][label]
            assert b["right"] + b["wrong"] + b["tie"] == b["races"]
            assert (s["accuracy_by_gap_ms"][label] is None) == (b["races"] == 0)
    assert r["systems"]["arrival_order"]["tie_rate"] == 0
    b = r["systems"]["buzzline"]
    assert b["presses"] >= 120 and 0.99 <= b["bound_coverage"] <= 1


def test_empty_bucket_is_null_and_table_prints(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prof = tmp_path / "narrow.toml"
    text = (PROFILE_DIR / "lan.toml").read_text().replace("min_gap_ms = 0.05", "min_gap_ms = 30.0")
    prof.write_text(text)
    assert main(["bench", "fairness", "--profile", str(prof), "--trials", "20", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["systems"]["buzzline"]["accuracy_by_gap_ms"]["0-0.5"] is None
    assert r["races_by_gap_ms"]["0-0.5"] == 0 and r["races_by_gap_ms"]["20+"] == 20
    assert main(["bench", "fairness", "--profile", str(prof), "--trials", "20"]) == 0
    assert "accuracy, gap 0-0.5 ms" in capsys.readouterr().out


def test_explain_writes_one_line_per_questionable_race(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "why.jsonl"
    args = ["bench", "fairness", "--profile", "wifi", "--trials", "40", "--seed", "5", "--json"]
    assert main([*args, "--explain", str(out)]) == 0
    r = json.loads(capsys.readouterr().out)
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    ties = round(r["systems"]["buzzline"]["tie_rate"] * 40)
    assert ties > 0 and len(lines) >= ties
    row = next(x for x in lines if "tie" in x["why"])
    assert set(row) >= {"truth", "gap_us", "presses", "acks", "decision", "first_press_us", "latency_us"}
    p = row["presses"][0]
    assert set(p) >= {"true_us", "mapped_us", "err_us", "arrival_us", "capture_us", "covered"}
    assert row["decision"]["tied"] and "watermarks" in row["decision"]["evidence"]
    assert main([*args, "--explain", str(tmp_path / "no" / "dir.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err


def test_capture_tie_esp32_vs_picow_never_a_wrong_winner() -> None:
    """ESP32-class podium (soft IRQ: a stamp can be ms late) against a Pico-class one, true gap
    inside the ESP32's tail: the bound covers the tail, so the call is a tie, never wrong."""
    prof = load_profile("mixed-fleet")
    sim = RaceSim(prof, 7)
    esp = next(p for p in sim.podiums if p.group.capture.board == "esp32")
    pico = next(p for p in sim.podiums if p.group.capture.board == "picow")
    assert sim.cap_bound[esp.id] >= 5_000 and sim.cap_bound[pico.id] <= 150
    results = [sim.race() for _ in range(400)]
    mixed = [r for r in results if r.boards == "esp32/picow" and r.gap_us < 3_000]
    assert mixed, "no close esp32/picow races drawn"
    for r in mixed:
        assert r.buzzline.tie or r.buzzline.winner == r.truth[0], r.detail
    # the races where the ESP32's stamp landed in its tail are ties too
    late = [r for r in mixed if any(p["capture_us"] >= 1_000 for p in r.detail["presses"])]  # type: ignore[union-attr, index]
    assert all(r.buzzline.tie or r.buzzline.winner == r.truth[0] for r in late)
    assert sum(r.covered for r in results) == sum(len(r.clock_errors_us) for r in results)


def test_fairness_same_seed_same_figures(capsys: pytest.CaptureFixture[str]) -> None:
    args = ["bench", "fairness", "--profile", "lan", "--trials", "30", "--seed", "9", "--json"]
    main(args)
    a = capsys.readouterr().out
    main(args)
    assert capsys.readouterr().out == a


def test_fairness_bad_profile_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness", "--profile", "nope", "--trials", "5"]) == 2
    assert "no profile 'nope'" in capsys.readouterr().err


def test_core_bench_counts_events(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "core", "--events", "2000", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["events"] >= 2000 and r["events_per_s"] > 0


def test_seeds_report_the_worst_and_median_seed_per_figure(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "fairness", "--profile", "lan", "--trials", "30", "--seeds", "1-3", "--json"]
    assert main(argv) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["seeds"] == [1, 2, 3] and [run["seed"] for run in r["runs"]] == [1, 2, 3]
    figs = r["figures"]
    for name, higher_worse in (("tie_rate", True), ("bound_coverage", False), ("clock_error_us p99", True)):
        f = figs[name]
        vals = f["by_seed"]
        assert set(vals) == {"1", "2", "3"}
        worst = max(vals.values()) if higher_worse else min(vals.values())
        assert f["worst"] == worst and vals[str(f["worst_seed"])] == worst
        assert sorted(vals.values())[1] == f["median"]
    one = r["runs"][1]["systems"]["buzzline"]["tie_rate"]
    assert figs["tie_rate"]["by_seed"]["2"] == one
    assert main(["bench", "fairness", "--profile", "lan", "--trials", "5", "--seeds", "1-2"]) == 0
    assert "worst" in capsys.readouterr().out


@pytest.mark.parametrize("seeds", ["3-1", "x", "1-2-3", ""])
def test_bad_seeds_are_a_clear_error(seeds: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness", "--trials", "5", "--seeds", seeds]) == 2
    err = capsys.readouterr().err
    assert err.startswith("buzzline bench fairness: --seeds:") and "Traceback" not in err
