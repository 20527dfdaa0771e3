"""Buzzline as a user installs it: build the wheel, install it into a fresh virtual environment
outside the source tree, and run the demo and a small fairness benchmark from there (the
simulator's network profiles are package data, so the wheel needs no checkout)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SKIP = shutil.ignore_patterns(
    ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "*.db"
)


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, (argv, r.stdout[-2000:], r.stderr[-2000:])
    return r


def test_the_wheel_installs_and_runs_outside_the_tree(tmp_path: Path) -> None:
    # a copy of the sources, so building leaves nothing in the checkout
    src = tmp_path / "src"
    shutil.copytree(ROOT, src, ignore=SKIP, symlinks=True)
    wheels = tmp_path / "wheels"
    pip = [sys.executable, "-m", "pip"]
    _run([*pip, "wheel", "--no-deps", "-q", "-w", str(wheels), str(src)], tmp_path, 600)
    (wheel,) = wheels.glob("buzzline-*.whl")
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], tmp_path, 120)
    py = venv / "bin" / "python"
    _run([*pip, "--python", str(py), "install", "-q", str(wheel)], tmp_path, 600)
    shutil.rmtree(src)  # nothing of the checkout is left to lean on
    away = tmp_path / "elsewhere"
    away.mkdir()
    where = _run([str(py), "-c", "import buzzline; print(buzzline.__file__)"], away, 60).stdout
    assert where.startswith(str(venv)), where
    buzzline = str(venv / "bin" / "buzzline")
    version = _run([buzzline, "--version"], away, 60).stdout
    assert version.strip() == f"buzzline {wheel.name.split('-')[1]}"
    demo = _run([buzzline, "demo", "--headless", "--seconds", "5"], away, 120)
    assert "show over:" in demo.stdout and "final standings: 1. " in demo.stdout
    assert "Traceback" not in demo.stdout + demo.stderr
    bench = _run([buzzline, "bench", "fairness", "--profile", "wifi", "--trials", "200"], away, 300)
    assert "wifi" in bench.stdout and "Traceback" not in bench.stderr
