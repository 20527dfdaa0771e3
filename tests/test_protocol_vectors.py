"""Protocol vectors under CPython (in-process) and the real MicroPython unix port."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from buzzline_protocol import codec, topics

from .conftest import ROOT

sys.path.insert(0, str(ROOT / "protocol"))
import run_vectors

VECTOR_FILES = sorted((ROOT / "protocol" / "vectors").glob("*.json"))


@pytest.mark.parametrize("path", VECTOR_FILES, ids=lambda p: p.stem)
def test_vectors_cpython(path):
    failures = []
    passed = []

    def report(name, failure):
        (passed if failure is None else failures).append((name, failure))

    run_vectors.run_file(str(path), report)
    assert not failures
    assert passed, "a vector file with no cases"


def test_every_kind_has_vectors_with_three_invalid():
    kinds = {p.stem for p in VECTOR_FILES}
    assert kinds == set(codec.KINDS)
    for p in VECTOR_FILES:
        doc = json.loads(p.read_text())
        assert doc["valid"], p.name
        assert len(doc["invalid"]) >= 3, p.name


def test_vectors_micropython(micropython):
    r = subprocess.run(
        [micropython, str(ROOT / "protocol" / "run_vectors.py")], capture_output=True, text=True, timeout=60
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert " 0 failed" in r.stdout


def test_topic_and_payload_must_agree():
    assert topics.parse_podium("s1", topics.podium("s1", "p1", "up")) == ("p1", "up")
    for bad in ("buzzline/s2/podium/p1/up", "buzzline/s1/podium/p1/nope", "buzzline/s1/podium/all/up", "x"):
        with pytest.raises(codec.ProtocolError) as e:
            topics.parse_podium("s1", bad)
        assert e.value.reason == "topic"
    with pytest.raises(codec.ProtocolError):
        topics.check_kind("up", "light")
