"""`buzzline bench desk` end to end on a real headless QLC+ (a short run: figures are for
docs/performance.md, here only that every part is measured and adds up)."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.adapter_kit import need


def test_bench_desk_reports_the_buzz_the_desk_floor_and_the_adapter_share() -> None:
    need("qlcplus")
    r = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "bench", "desk", "--buzzes", "3", "--json"],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["buzzes"] == 3
    for key in ("buzz_ms", "floor_ms", "adapter_ms", "poll_ms"):
        assert 0 < out[key]["p50"] <= out[key]["p99"], (key, out)
    # the desk's read-back is part of both desk figures; the adapter's share is within the buzz's
    assert out["poll_ms"]["p50"] < out["floor_ms"]["p50"]
    assert out["adapter_ms"]["p50"] < out["buzz_ms"]["p50"]
