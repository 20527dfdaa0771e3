"""`buzzline bench viewer` runs end to end and reports every figure it documents (counts, not times)."""

from __future__ import annotations

import json
import os
from typing import Any

from buzzline.cli import main as cli_main


def test_bench_viewer_reports_frames_and_latencies(capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    monkeypatch.delenv("DISPLAY", raising=False)
    assert cli_main(["bench", "viewer", "--frames", "20", "--notices", "5", "--podiums", "4", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["size"] == [1920, 1080] and out["podiums"] == 4 and out["driver"] == "dummy"
    for kind in ("idle", "animating"):
        s = out["frame_ms"][kind]
        assert s["n"] == 20 and 0 <= s["p50"] <= s["p99"] <= s["max"]
    assert out["frame_ms"]["full"]["n"] == 10
    n2p = out["notice_to_pixels_ms"]
    assert n2p["n"] == 5 and 0 < n2p["p50"] <= n2p["max"]
    mqtt = out["standalone_notice_to_pixels_ms"]  # the broker fixture's Mosquitto is required anyway
    assert mqtt["n"] == 5 and 0 < mqtt["p50"] <= mqtt["max"]
    ovl = out["overlay_notice_to_dom_ms"]
    if os.path.exists("/usr/bin/chromium"):
        assert ovl["n"] == 5 and 0 < ovl["p50"] <= ovl["max"]
    else:
        assert ovl is None and "chromium" in out["overlay_skipped"]
    assert cli_main(["bench", "viewer", "--size", "huge"]) == 2
