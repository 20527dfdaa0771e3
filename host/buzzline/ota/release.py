"""Firmware releases, content-addressed: a manifest (board, version, every file's path, size and
SHA-256) signed with the studio key, file bodies stored once each under their hash.

The manifest's bytes are canonical (one file per line, sorted by path) so the same inputs give
the same manifest byte for byte, and a podium can read it one line at a time.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
from dataclasses import dataclass
from pathlib import Path

# the boot stub: flashed once, never released
BOOT_FILES = ("/main.py", "/lib/relboot.mpy", "/lib/relboot.py")
KEY_FILE = "studio.key"  # written by `buzzline broker config`, next to credentials.json
KEY_BYTES = 32
OBJECTS = "objects"
MANIFESTS = "manifests"
_HEX64 = re.compile(r"[0-9a-f]{64}")
_VERSION = re.compile(r"[0-9A-Za-z._+-]{1,16}")


class ReleaseError(ValueError):
    """A release that cannot be built, stored or read; the message says why."""


@dataclass(frozen=True, slots=True)
class FileEntry:
    path: str  # relative to the release's root on the podium, e.g. lib/podium/app.mpy
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Manifest:
    board: str
    version: str
    files: tuple[FileEntry, ...]

    def to_bytes(self) -> bytes:
        head = json.dumps(
            {"board": self.board, "version": self.version}, sort_keys=True, separators=(",", ":")
        )
        lines = [head[:-1] + ',"files":[']
        for i, f in enumerate(sorted(self.files, key=lambda e: e.path)):
            sep = "," if i < len(self.files) - 1 else ""
            lines.append(json.dumps([f.path, f.size, f.sha256], separators=(",", ":")) + sep)
        lines.append("]}")
        return ("\n".join(lines) + "\n").encode()

    @property
    def digest(self) -> str:
        """The manifest's name: the SHA-256 of its bytes (hello's `rel` is its first 16 digits)."""
        return hashlib.sha256(self.to_bytes()).hexdigest()

    def total(self) -> int:
        return sum(f.size for f in self.files)


def parse_manifest(data: bytes) -> Manifest:
    try:
        raw = json.loads(data)
        files = tuple(FileEntry(str(p), int(s), str(h)) for p, s, h in raw["files"])
        m = Manifest(str(raw["board"]), str(raw["version"]), files)
    except (ValueError, KeyError, TypeError) as e:
        raise ReleaseError(f"not a release manifest: {e}") from None
    if m.to_bytes() != data:
        raise ReleaseError("manifest is not in canonical form")
    return m


def manifest_patch(old: bytes, new: bytes) -> bytes:
    """``new`` as the lines that differ from ``old``: "=I,J" copies lines I..J-1 of ``old``, any
    other line is taken as it is (no manifest line starts with "="). A podium rebuilds ``new``
    from its running release's manifest and checks it against the signed digest."""
    a, b = old.decode().splitlines(keepends=True), new.decode().splitlines(keepends=True)
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            out.append(f"={i1},{i2}\n")
        elif op in ("replace", "insert"):
            out.extend(b[j1:j2])
    return "".join(out).encode()


def sign(key: bytes, manifest: bytes) -> str:
    return hmac.new(key, manifest, hashlib.sha256).hexdigest()


def verify(key: bytes, manifest: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(key, manifest), signature)


def new_key() -> str:
    return secrets.token_hex(KEY_BYTES)


def read_key(path: str | Path) -> bytes:
    """The studio key (hex in a file, or a directory holding studio.key)."""
    p = Path(path)
    if p.is_dir():
        p = p / KEY_FILE
    try:
        text = p.read_text().strip()
    except OSError as e:
        raise ReleaseError(f"cannot read the studio key {p}: {e.strerror}") from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < 16:
        raise ReleaseError(f"{p} is not a studio key (hex, 32 bytes; `buzzline broker config` writes one)")
    return key


def write_key_once(directory: Path) -> Path:
    """Create studio.key (mode 0600) unless it exists: podiums flashed with it must keep working."""
    path = directory / KEY_FILE
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(new_key() + "\n")
    return path


def check_version(version: str) -> str:
    if not _VERSION.fullmatch(version):
        raise ReleaseError(f"bad version {version!r}: 1-16 of [0-9A-Za-z._+-]")
    return version


def is_digest(text: str) -> bool:
    return bool(_HEX64.fullmatch(text))


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


class ReleaseStore:
    """A folder of releases: objects/<sha256> (file bodies) and manifests/<digest>.{json,sig}."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def object_path(self, sha: str) -> Path:
        return self.root / OBJECTS / sha

    def add(self, tree: Path, board: str, version: str, key: bytes) -> tuple[Manifest, int]:
        """Store every file under ``tree`` and a signed manifest; returns it and the bytes added."""
        entries = []
        added = 0
        for src in sorted(p for p in tree.rglob("*") if p.is_file()):
            data = src.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            entries.append(FileEntry(src.relative_to(tree).as_posix(), len(data), sha))
            obj = self.object_path(sha)
            if not obj.exists():
                _write_atomic(obj, data)
                added += len(data)
        m = Manifest(board, check_version(version), tuple(entries))
        data = m.to_bytes()
        _write_atomic(self.root / MANIFESTS / f"{m.digest}.json", data)
        _write_atomic(self.root / MANIFESTS / f"{m.digest}.sig", (sign(key, data) + "\n").encode())
        return m, added

    def manifest_bytes(self, digest: str) -> bytes:
        if not is_digest(digest):
            raise ReleaseError(f"{digest!r} is not a manifest digest (64 hex digits)")
        try:
            return (self.root / MANIFESTS / f"{digest}.json").read_bytes()
        except OSError:
            raise ReleaseError(f"no release {digest[:16]} in {self.root}") from None

    def signature(self, digest: str) -> str:
        self.manifest_bytes(digest)
        return (self.root / MANIFESTS / f"{digest}.sig").read_text().strip()

    def manifest(self, digest: str) -> Manifest:
        return parse_manifest(self.manifest_bytes(digest))

    def releases(self) -> list[tuple[str, Manifest]]:
        """(digest, manifest) of every stored release, newest file first."""
        d = self.root / MANIFESTS
        if not d.is_dir():
            return []
        found = sorted(d.glob("*.json"), key=lambda p: (p.stat().st_mtime_ns, p.name), reverse=True)
        return [(p.stem, parse_manifest(p.read_bytes())) for p in found if is_digest(p.stem)]

    def find_newest(self, board: str) -> tuple[str, Manifest]:
        for digest, m in self.releases():
            if m.board == board:
                return digest, m
        raise ReleaseError(f"no release for board {board} in {self.root}")

    def find(self, ref: str, board: str | None = None) -> tuple[str, Manifest]:
        """A release by digest (or a prefix of 8+ digits) or by version (the newest with it)."""
        hits = [
            (d, m)
            for d, m in self.releases()
            if (board is None or m.board == board)
            and (m.version == ref or (len(ref) >= 8 and d.startswith(ref)))
        ]
        if not hits:
            raise ReleaseError(f"no release {ref!r}{' for ' + board if board else ''} in {self.root}")
        return hits[0]
