"""`buzzline bench adapters` runs end to end and reports its three series (figures: docs/performance.md)."""

from __future__ import annotations

import json
import math
import subprocess

from tests.conftest import BIN


def test_bench_adapters_reports_osc_and_dmx_latency() -> None:
    out = subprocess.run(
        [str(BIN / "buzzline"), "bench", "adapters", "--buzzes", "3", "--json"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    result = json.loads(out.stdout)
    assert result["buzzes"] == 3
    for key in ("osc_ms", "dmx_ms", "dmx_refresh_ms"):
        for q in ("p50", "p99"):
            assert math.isfinite(result[key][q]) and result[key][q] > 0
    bad = subprocess.run(
        [str(BIN / "buzzline"), "bench", "adapters", "--fps", "99"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and "fps" in bad.stderr and "Traceback" not in bad.stderr
