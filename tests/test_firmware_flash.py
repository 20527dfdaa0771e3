"""`buzzline flash --dry-run`: the plan (files, destinations, config with secrets masked), no board."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from buzzline.cli import main


def _plan(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    rc = main(["flash", "--dry-run", *args])
    out, err = capsys.readouterr()
    return rc, out, err


def test_dry_run_lists_board_files_and_masks_secrets(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _plan(
        capsys, "--board", "picow", "--id", "p4", "--ssid", "studio-net", "--password", "wifi-pass-123",
        "--broker", "10.1.2.3:1884", "--studio", "tv1", "--secret", "broker-secret-456",
    )  # fmt: skip
    assert rc == 0
    assert ":/lib/podium/board/picow.mpy" in out and ":/lib/buzzline_protocol/codec.mpy" in out
    assert ":/main.py" in out and ":/podium.json" in out
    # only this board's profile goes on the board
    assert "esp32.mpy" not in out and "unix.mpy" not in out
    assert "wifi-pass-123" not in out and "broker-secret-456" not in out
    cfg = json.loads(out[out.index("podium.json:\n") + len("podium.json:\n") :])
    assert cfg == {
        "board": "picow", "broker": "10.1.2.3:1884", "id": "p4", "password": "***", "secret": "***",
        "ssid": "studio-net", "studio": "tv1", "user": "podium-p4",
    }  # fmt: skip


def test_dry_run_source_mode_copies_py(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _plan(capsys, "--board", "esp32", "--ssid", "n", "--source")
    assert rc == 0
    assert ":/lib/podium/board/esp32.py (copy)" in out and ".mpy" not in out
    assert '"id"' not in out  # no --id: the chip's unique id is used on the board


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (["--board", "esp32", "--ssid", "n", "--broker", "host:notaport"], "bad broker address"),
        (["--board", "esp32", "--ssid", "n", "--id", "Bad Id"], "id must be"),
        (["--board", "esp32", "--ssid", "n", "--id", "all"], "id must be"),
        (["--board", "esp32", "--ssid", "n", "--secret", "x"], "--secret needs --user"),
    ],
)
def test_bad_input_is_refused_with_a_reason(
    capsys: pytest.CaptureFixture[str], args: list[str], reason: str
) -> None:
    rc, out, err = _plan(capsys, *args)
    assert rc == 2 and reason in err and out == ""


def test_flash_without_port_or_dry_run_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(["flash", "--board", "esp32", "--ssid", "n"])
    assert rc == 2 and "--port is required" in capsys.readouterr().err


def test_dry_run_needs_no_wifi_settings_and_shows_placeholders(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _plan(capsys, "--port", "/dev/ttyUSB0", "--board", "esp32")  # the README's line
    assert rc == 0
    cfg = json.loads(out[out.index("podium.json:\n") + len("podium.json:\n") : out.index("\n}\n") + 2])
    assert cfg["ssid"] == "<SSID>" and cfg["password"] == "<WIFI-PASSWORD>"
    assert cfg["broker"] == "<BROKER-HOST>:1883"
    assert "needs --broker, --ssid, --password" in out


def test_real_flash_without_wifi_settings_is_refused_when_nobody_can_answer(
    capsys: pytest.CaptureFixture[str], tmp_path
) -> None:
    port = tmp_path / "ttyFAKE"
    port.touch()  # a device that exists, so the check reached is the Wi-Fi one
    rc = main(["flash", "--port", str(port), "--board", "esp32", "--broker", "10.0.0.2:1883"])
    err = capsys.readouterr().err
    assert rc == 2 and "--ssid is required" in err and len(err.strip().splitlines()) == 1


def test_missing_device_is_reported_as_missing(capsys: pytest.CaptureFixture[str], tmp_path) -> None:
    gone = tmp_path / "ttyUSB9"
    rc = main(
        ["flash", "--port", str(gone), "--board", "esp32", "--ssid", "n", "--password", "", "--broker", "h:1"]
    )
    out, err = capsys.readouterr()
    assert rc == 2 and f"no device at {gone}" in err and out == ""


def test_cli_entry_point_prints_plan() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "flash", "--board", "esp32", "--ssid", "n", "--dry-run"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert r.returncode == 0 and "mpy-cross" in r.stdout and ":/lib/podium/app.mpy" in r.stdout


def test_dry_run_selftest_goes_into_the_podium_config(capsys: pytest.CaptureFixture[str]) -> None:
    rc, out, _ = _plan(capsys, "--board", "picow", "--ssid", "n", "--selftest", "2000")
    assert rc == 0 and '"selftest": 2000' in out
    rc, out, err = _plan(capsys, "--board", "picow", "--ssid", "n", "--selftest", "5")
    assert rc == 2 and "--selftest must be 100..10000" in err and out == ""
