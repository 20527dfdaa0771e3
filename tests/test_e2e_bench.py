"""Smoke test of `buzzline bench e2e`: a few presses per mode through a real Mosquitto, the
host, the bare relay and slow adapters; the JSON carries every figure the docs quote."""

from __future__ import annotations

import json

import pytest
from buzzline.cli import main
from buzzline.lock_trace import STAGES


def test_e2e_json_has_relay_host_stamps_and_slow_adapters(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["bench", "e2e", "--podiums", "3", "--presses", "3", "--slow-adapter", "--json"])
    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["lost"] == 0 and r["bare_relay"]["lost"] == 0 and r["slow_adapter"]["lost"] == 0
    slow, bare = r["slow_adapter"], r["bare_relay"]
    for fig in (r["lockout_ms"], r["decided_ms"], bare["lockout_ms"], slow["decided_ms"], slow["lockout_ms"]):
        assert 0 < fig["p50"] <= fig["p99"] < 3000
    assert set(r["ratio"]) == {"lockout_p50", "lockout_p99", "first_lock_p50"}
    host = r["host_us"]
    assert host["n"] == 3 and 0 < host["p50"] <= host["p99"] <= host["max"]
    assert list(host["stages_p50"]) == list(STAGES)
    assert all(v >= 0 for v in host["stages_p50"].values()) and host["send_us"]["p50"] >= 0
    assert host["lock_before_fsync"] == 1.0  # every lock was on the socket before its fsync began
    # the slow adapters had notices to drop or not, but every lock of theirs was stamped apart
    assert r["slow_adapter"]["host_us"]["n"] == 3 and r["slow_adapter"]["drops"] >= 0
    assert 0 < r["host_cpu"] < 2


def test_e2e_rejects_zero_podiums(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "e2e", "--podiums", "0"]) == 2
    assert "--podiums" in capsys.readouterr().err


def test_capacity_stops_at_the_first_count_over_budget(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "capacity", "--start", "2", "--step", "2", "--max", "4", "--presses", "2", "--json"]
    assert main([*argv, "--budget-us", "1000000"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["podiums"] == r["podiums_cpu"] == 4 and [s["podiums"] for s in r["steps"]] == [2, 4]
    assert all(s["holds"] and s["holds_cpu"] and s["lost"] == 0 for s in r["steps"]) and r["host_cpu"] > 0
    # no host reads a buzz and hands out its lock within a microsecond
    assert main([*argv, "--budget-us", "1"]) == 1
    r = json.loads(capsys.readouterr().out)
    assert r["podiums"] == r["podiums_cpu"] == 0 and len(r["steps"]) == 1
    assert not (r["steps"][0]["holds"] or r["steps"][0]["holds_cpu"])
