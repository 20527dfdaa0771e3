"""`buzzline --help` lists every command with its one-line summary; `--version` names the release."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

from buzzline.cli import _command_modules


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buzzline.cli", *args], capture_output=True, text=True, timeout=30
    )


def test_help_lists_every_command_on_one_line() -> None:
    r = _run("--help")
    assert r.returncode == 0 and r.stderr == ""
    lines = r.stdout.splitlines()
    mods = _command_modules()
    assert len(mods) >= 8
    for mod in mods:
        mine = [line for line in lines if line.split()[:1] == [mod.NAME]]
        assert len(mine) == 1, (mod.NAME, r.stdout)
        assert mine[0].split(None, 1)[1].strip() == mod.HELP


def test_each_command_has_help() -> None:
    for mod in _command_modules():
        r = _run(mod.NAME, "--help")
        assert r.returncode == 0, (mod.NAME, r.stderr)
        assert r.stdout.startswith(f"usage: buzzline {mod.NAME}")


def test_version_is_the_installed_release() -> None:
    r = _run("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"buzzline {importlib.metadata.version('buzzline')}"
