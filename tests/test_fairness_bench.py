"""Smoke test of `buzzline bench fairness` and `bench core`: JSON shape and sane figures."""

from __future__ import annotations

import json

import pytest
from buzzline.cli import main


def test_fairness_json_shape(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "fairness", "--profile", "wifi", "--trials", "60", "--seed", "3", "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert set(r) == {"profile", "trials", "systems"} and r["profile"] == "wifi" and r["trials"] == 60
    assert set(r["systems"]) == {"buzzline", "arrival_order", "fixed_window"}
    for name, s in r["systems"].items():
        keys = {"accuracy_by_gap_ms", "wrong_rate", "tie_rate", "decision_latency_ms"}
        assert set(s) == keys | ({"clock_error_us"} if name == "buzzline" else set())
        assert list(s["accuracy_by_gap_ms"]) == ["0-0.5", "0.5-1", "1-2", "2-5", "5-20", "20+"]
        assert 0 <= s["wrong_rate"] <= 1 and 0 <= s["tie_rate"] <= 1
        assert s["decision_latency_ms"]["p50"] <= s["decision_latency_ms"]["p99"]
    assert r["systems"]["arrival_order"]["tie_rate"] == 0


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
