"""Releases and the fleet's update state, without processes: the manifest's format and
determinism, signatures, patches, the release server's ranges, and the fleet's refusals."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from buzzline.ota.fleet import Fleet, FleetError
from buzzline.ota.release import (
    Manifest,
    ReleaseError,
    ReleaseStore,
    manifest_patch,
    new_key,
    parse_manifest,
    sign,
    verify,
)
from buzzline.web.releases import build_app

KEY = bytes.fromhex(new_key())


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def test_manifest_is_canonical_one_file_per_line_and_signed(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "store")
    t = tree(tmp_path / "t", {"lib/b.mpy": b"bb", "lib/a.mpy": b"a"})
    m, added = store.add(t, "unix", "1.0", KEY)
    data = store.manifest_bytes(m.digest)
    lines = data.decode().splitlines()
    assert lines[0] == '{"board":"unix","version":"1.0","files":['
    assert lines[1].startswith('["lib/a.mpy",1,"') and lines[1].endswith('"],')
    assert lines[2].startswith('["lib/b.mpy",2,"') and not lines[2].endswith(",")
    assert lines[3] == "]}" and data.endswith(b"\n")
    assert json.loads(data)["files"][0][0] == "lib/a.mpy"
    assert parse_manifest(data) == m and added == 3
    assert verify(KEY, data, store.signature(m.digest))
    assert not verify(bytes(32), data, store.signature(m.digest))
    # same inputs, same bytes; one changed file adds one object
    m2, _ = ReleaseStore(tmp_path / "other").add(t, "unix", "1.0", KEY)
    assert m2.to_bytes() == data
    (t / "lib/b.mpy").write_bytes(b"BB")
    m3, added3 = store.add(t, "unix", "1.1", KEY)
    assert added3 == 2 and len(list((tmp_path / "store/objects").iterdir())) == 3
    assert store.find("1.1") == (m3.digest, m3) and store.find(m.digest[:8])[0] == m.digest
    with pytest.raises(ReleaseError):
        store.find("9.9")
    with pytest.raises(ReleaseError):
        parse_manifest(data.replace(b"\n", b"", 1))


def test_patch_rebuilds_the_new_manifest_from_the_old() -> None:
    old = Manifest("unix", "1", tuple(_entries(range(10)))).to_bytes()
    new = Manifest("unix", "2", tuple(_entries(range(10), changed=4))).to_bytes()
    patch = manifest_patch(old, new)
    assert len(patch) < 200 < len(new)
    # apply it the way the podium does (podium/update.py _patch)
    o = old.decode().splitlines(keepends=True)
    out = []
    for line in patch.decode().splitlines(keepends=True):
        if line.startswith("="):
            i, j = map(int, line[1:].split(","))
            out += o[i:j]
        else:
            out.append(line)
    assert "".join(out).encode() == new


def _entries(ids: range, changed: int = -1) -> list:
    from buzzline.ota.release import FileEntry

    return [FileEntry(f"lib/m{i}.mpy", 100 + i, ("b" if i == changed else "a") * 64) for i in ids]


async def test_release_server_serves_by_hash_with_ranges_and_counts_bytes(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "store")
    m, _ = store.add(tree(tmp_path / "t", {"lib/x.mpy": b"0123456789"}), "unix", "1", KEY)
    sha = m.files[0].sha256
    app = build_app(store)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://fw") as client:
        assert (await client.get(f"/fw/m/{m.digest}?p=p1")).content == store.manifest_bytes(m.digest)
        r = await client.get(f"/fw/f/{sha}?p=p1", headers={"range": "bytes=4-"})
        assert r.status_code == 206 and r.content == b"456789"
        assert r.headers["content-range"] == "bytes 4-9/10"
        assert (await client.get(f"/fw/f/{sha}", headers={"range": "bytes=11-"})).status_code == 416
        assert (await client.get(f"/fw/f/{'0' * 64}")).status_code == 404
        assert (await client.get("/fw/m/nothex")).status_code == 404
    assert app.state.sent["p1"] == len(store.manifest_bytes(m.digest)) + 6


def test_fleet_refuses_during_a_question_and_a_second_update(tmp_path: Path) -> None:
    store = ReleaseStore(tmp_path / "store")
    m, _ = store.add(tree(tmp_path / "t", {"lib/x.mpy": b"x"}), "unix", "0.2.0", KEY)
    cs = iter(range(100, 200))
    fleet = Fleet("s1", store, "http://127.0.0.1:8765/fw", lambda: next(cs))
    hello = {"t": "hello", "id": "p1", "b": 7, "seq": 0, "pt": 1, "hw": "x", "board": "unix", "fw": "0.1.0"}
    fleet.inbound("p1", "up", hello, False)
    for phase in ("reading", "open", "answering"):
        with pytest.raises(FleetError, match="question"):
            fleet.push([], None, phase)
    with pytest.raises(FleetError, match="has not said hello"):
        fleet.push(["p9"], None, "idle")
    with pytest.raises(FleetError, match="flashed"):
        fleet.rollback(["p1"], "idle")
    [w] = fleet.push([], None, "judged")
    assert w.topic == "buzzline/s1/podium/p1/fw" and w.msg["man"] == m.digest and w.msg["cs"] == 100
    assert w.msg["sig"] == sign(KEY, store.manifest_bytes(m.digest)) and w.msg["ver"] == "0.2.0"
    with pytest.raises(FleetError, match="already updating"):
        fleet.push(["p1"], None, "idle")
    # after the switch: a hello from the new release, its trial; fwgood once its clock is trusted
    fleet.inbound("p1", "up", {**hello, "b": 8, "fw": "0.2.0", "rel": m.digest[:16]}, False)
    trial = {"t": "fwst", "id": "p1", "b": 8, "step": "trial", "ver": "0.2.0", "rel": m.digest[:16]}
    assert fleet.inbound("p1", "fwst", trial, False) == []
    [good] = fleet.inbound("p1", "sync", {"t": "sync"}, True)
    assert good.msg == {"t": "fwgood", "cs": 101, "man": m.digest}
    assert fleet.inbound("p1", "sync", {"t": "sync"}, True) == []  # once per boot
    [row] = fleet.status()
    assert row["rel"] == m.digest[:16] and row["available"] is None and row["step"] == "trial"


def test_builds_do_not_depend_on_where_the_checkout_is(tmp_path: Path) -> None:
    from buzzline.commands.flash import ROOT, StagedFile, build

    copy = tmp_path / "elsewhere" / "clock.py"
    copy.parent.mkdir()
    copy.write_bytes((ROOT / "firmware/podium/clock.py").read_bytes())
    dest = "/lib/podium/clock.mpy"
    a = build([StagedFile(ROOT / "firmware/podium/clock.py", dest, True)], tmp_path / "a")[dest]
    b = build([StagedFile(copy, dest, True)], tmp_path / "b")[dest]
    assert a.read_bytes() == b.read_bytes()


def test_firmware_release_command(tmp_path: Path) -> None:
    key = tmp_path / "studio.key"
    key.write_text(new_key())
    argv = [
        sys.executable,
        "-m",
        "buzzline.cli",
        "firmware",
        "release",
        "--board",
        "unix",
        "--version",
        "0.1.0",
    ]
    r = subprocess.run(
        [*argv, "--key", str(key), "--store", str(tmp_path / "a"), "--json"], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    store = ReleaseStore(tmp_path / "a")
    m = store.manifest(out["digest"])
    assert m.board == "unix" and out["files"] == len(m.files) >= 20
    assert {f.path for f in m.files} >= {"lib/podium/app.mpy", "lib/buzzline_protocol/codec.mpy"}
    assert not {f.path for f in m.files} & {"main.py", "lib/relboot.mpy"}  # the boot stub is never released
    r = subprocess.run([*argv, "--key", str(tmp_path / "nokey")], capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.startswith("buzzline: firmware release: cannot read the studio key")
