"""firmware/tools/micropython32.sh: the 32-bit unix port's build script says what it needs in one
line (exit 2) when it cannot build; the build itself needs a MicroPython checkout, which no
registry here has (docs/firmware.md, "A 32-bit interpreter")."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from buzzline.commands.flash import MICROPYTHON_ENV, micropython_exe, word_bits

SCRIPT = Path(__file__).resolve().parent.parent / "firmware" / "tools" / "micropython32.sh"


def test_no_source_checkout_is_one_line_and_exit_2(tmp_path: Path) -> None:
    for argv in ([], [str(tmp_path)]):
        r = subprocess.run(["sh", str(SCRIPT), *argv], capture_output=True, text=True, timeout=30)
        assert r.returncode == 2 and r.stdout == ""
        assert r.stderr.count("\n") == 1 and "MicroPython source checkout" in r.stderr


def test_the_interpreter_podiums_run_on_can_be_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = micropython_exe()
    assert default is not None and word_bits(default) in (32, 64)
    not_a_program = tmp_path / "micropython"
    not_a_program.write_text("")
    monkeypatch.setenv(MICROPYTHON_ENV, str(not_a_program))
    assert micropython_exe() is None  # named, but nothing to run: the tools say so, not guess
    monkeypatch.setenv(MICROPYTHON_ENV, default)
    assert micropython_exe() == default
