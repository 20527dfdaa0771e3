"""The show's durable event log: an append-only SQLite table, fsynced on every append.

The host appends each accepted input, command and decision *before* its effects go out,
so a restarted host (or `buzzline replay`) can rebuild exactly the same state from it.
`to_record` / `from_record` turn the core's frozen dataclasses into (kind, JSON dict) and back,
under the stable names of ``io.recordkinds``.

Over 400 lines: the storage (SQLite, fsync, file lock) and the typed record codec it writes
are kept together so the on-disk format is defined in one file.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import logging
import sqlite3
import sys
import time
import types
import typing
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from buzzline import __version__
from buzzline.io.lockfile import FileLocked, LockFile
from buzzline.io.recordkinds import FORMAT as RECORD_FORMAT
from buzzline.io.recordkinds import TYPES

log = logging.getLogger(__name__)

# Bumped when the table layout or a record name's meaning changes (io/recordkinds.py); an older
# host refuses a newer log instead of misreading it.
FORMAT = RECORD_FORMAT

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    seq       INTEGER PRIMARY KEY,
    host_us   INTEGER NOT NULL,
    wall_time REAL NOT NULL,
    kind      TEXT NOT NULL,
    data      TEXT NOT NULL CHECK (json_valid(data))
);
-- append-only: a log that can be edited cannot settle a dispute
CREATE TRIGGER IF NOT EXISTS records_no_update BEFORE UPDATE ON records
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_no_delete BEFORE DELETE ON records
BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END;
"""


class EventLogError(RuntimeError):
    """The log cannot be opened, read or written; the message says why."""


class EventLogInUse(EventLogError):
    """Another process (a host already running) writes this log."""


@dataclass(frozen=True, slots=True)
class Record:
    """One row of the log."""

    seq: int
    host_us: int
    wall_time: float  # Unix seconds, for humans; ordering uses seq and host_us
    kind: str
    data: dict[str, Any]


class EventLog:
    """An open show log. ``append`` returns only after the record is on disk.

    ``readonly=True`` opens an existing log for replay and reports without creating
    or changing anything.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        show: str = "",
        studio: str = "",
        readonly: bool = False,
    ) -> None:
        self.path = Path(path)
        self.readonly = readonly
        if readonly and not self.path.is_file():
            raise EventLogError(f"{self.path}: no such event log")
        self._lock: LockFile | None = None
        if not readonly:  # one writer: a second host on this log is refused here
            try:
                self._lock = LockFile(self.path)
            except FileLocked as e:
                raise EventLogInUse(f"{e}: one host per event log") from None
            except OSError as e:
                raise EventLogError(f"{self.path}: cannot lock: {e}") from None
        try:
            self._open(show, studio)
        except BaseException:
            self._unlock()
            raise

    def _open(self, show: str, studio: str) -> None:
        readonly = self.readonly
        try:
            if readonly:
                uri = self.path.resolve().as_uri() + "?mode=ro"
                self._db = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
            else:
                self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as e:
            raise EventLogError(f"{self.path}: cannot open: {e}") from e
        try:
            self._setup(show, studio)
        except sqlite3.DatabaseError as e:
            self._db.close()
            raise EventLogError(f"{self.path}: not a Buzzline event log ({e})") from e
        except EventLogError:
            self._db.close()
            raise

    def _setup(self, show: str, studio: str) -> None:
        db = self._db
        if not self.readonly:
            # WAL: readers (replay, reports, the console) never block the writer.
            # FULL: the WAL is fsynced at every commit, so a returned append survives power loss.
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise EventLogError(f"{self.path}: SQLite refused WAL mode (got {mode})")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(_SCHEMA)
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "records"} <= tables:
            raise EventLogError(f"{self.path}: not a Buzzline event log (tables meta/records missing)")
        meta = self.meta()
        fmt = meta.get("format")
        if fmt is not None and (not fmt.isdigit() or int(fmt) > FORMAT):
            raise EventLogError(
                f"{self.path}: log format {fmt} is newer than this host understands ({FORMAT})"
            )
        if not self.readonly and fmt is None:
            self._set_meta(
                {
                    "format": str(FORMAT),
                    "version": __version__,
                    "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "show": show,
                    "studio": studio,
                }
            )

    # ---- writing ----

    def append(self, kind: str, data: Mapping[str, Any], host_us: int, durable: bool = True) -> int:
        """Append one record and return its ``seq`` once it is committed (fsynced).

        ``durable=False`` leaves the record in an open transaction, to be committed (with one
        fsync for all of them) by the next durable append or ``flush()``: for inputs that
        change nothing outside the host until a later, durable record depends on them.
        """
        if self.readonly:
            raise EventLogError(f"{self.path}: opened read-only")
        if not isinstance(kind, str) or not kind:
            raise EventLogError(f"record kind must be a non-empty string, got {kind!r}")
        if not isinstance(host_us, int) or isinstance(host_us, bool):
            raise EventLogError(f"host_us must be an int, got {host_us!r}")
        try:
            text = json.dumps(dict(data), separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise EventLogError(f"record {kind!r} is not JSON-serialisable: {e}") from e
        try:
            if not self._db.in_transaction:
                self._db.execute("BEGIN IMMEDIATE")
            cur = self._db.execute(
                "INSERT INTO records (host_us, wall_time, kind, data) VALUES (?, ?, ?, ?)",
                (host_us, time.time(), kind, text),
            )
            if durable:
                self._db.execute("COMMIT")
        except sqlite3.Error as e:
            raise EventLogError(f"{self.path}: append failed: {e}") from e
        seq = cur.lastrowid
        if seq is None:  # pragma: no cover - sqlite always sets it after an INSERT
            raise EventLogError(f"{self.path}: append returned no row id")
        return seq

    def append_obj(self, obj: Any, host_us: int) -> int:
        """Append a frozen dataclass (see `to_record`)."""
        kind, data = to_record(obj)
        return self.append(kind, data, host_us)

    def set_meta(self, key: str, value: str) -> None:
        if self.readonly:
            raise EventLogError(f"{self.path}: opened read-only")
        self._set_meta({key: value})

    def _set_meta(self, items: Mapping[str, str]) -> None:
        with self._transaction():
            self._db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                list(items.items()),
            )

    def _transaction(self) -> _Tx:
        return _Tx(self._db)

    # ---- reading ----

    def meta(self) -> dict[str, str]:
        return {str(k): str(v) for k, v in self._db.execute("SELECT key, value FROM meta")}

    def records(self, since: int = 0, kinds: Iterable[str] | None = None) -> Iterator[Record]:
        """Records with ``seq > since`` in append order (optionally only some kinds)."""
        sql = "SELECT seq, host_us, wall_time, kind, data FROM records WHERE seq > ?"
        args: list[Any] = [since]
        if kinds is not None:
            wanted = list(kinds)
            sql += f" AND kind IN ({','.join('?' * len(wanted))})"
            args += wanted
        sql += " ORDER BY seq"
        try:
            rows = self._db.execute(sql, args).fetchall()
        except sqlite3.Error as e:
            raise EventLogError(f"{self.path}: read failed: {e}") from e
        for seq, host_us, wall, kind, text in rows:
            try:
                data = json.loads(text)
            except ValueError as e:  # the CHECK makes this unreachable unless edited by hand
                raise EventLogError(f"{self.path}: record {seq} holds bad JSON: {e}") from e
            yield Record(int(seq), int(host_us), float(wall), str(kind), data)

    def last_seq(self) -> int:
        row = self._db.execute("SELECT MAX(seq) FROM records").fetchone()
        return int(row[0] or 0)

    def flush(self) -> None:
        """Commit records appended with ``durable=False``."""
        if not self.readonly and self._db.in_transaction:
            try:
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                raise EventLogError(f"{self.path}: commit failed: {e}") from e

    def close(self) -> None:
        self._db.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def __enter__(self) -> EventLog:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (or ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._db.execute("ROLLBACK" if et else "COMMIT")


# ---------------------------------------------------------------------------------------------
# Frozen dataclasses <-> (kind, JSON dict)
#
# The kind is the class's stable name in ``io.recordkinds.TYPES`` (never its Python name, which
# may change); fields are encoded by their declared type, so the JSON stays plain (a tuple of
# RingIn is a list of objects, a frozenset a sorted list). Where the declared type does not say
# which class a nested value is (``object``, a union of dataclasses), the value carries its name
# under "__kind__". Untyped positions (``evidence``) must hold JSON-native values (dict, list,
# str, int, float, bool, None) to round-trip exactly.

KIND_KEY = "__kind__"

_registry: dict[str, type[Any]] = dict(TYPES)
_names: dict[type[Any], str] = {cls: name for name, cls in TYPES.items()}


class RecordError(ValueError):
    """An object cannot be turned into a record, or a record back into an object."""


def register(cls: type[Any], name: str | None = None) -> None:
    """Give a dataclass outside ``io.recordkinds`` (a plug-in's, a test's) a record name: its
    class name unless ``name`` says otherwise. A name taken by another class is refused."""
    if not dataclasses.is_dataclass(cls):
        raise RecordError(f"{cls!r} is not a dataclass")
    name = name or cls.__name__
    other = _registry.get(name)
    if other is not None and other is not cls:
        raise RecordError(f"record kind {name!r} is taken by {other!r}, not {cls!r}")
    _registry[name] = cls
    _names.setdefault(cls, name)


def record_class(kind: str) -> type[Any] | None:
    return _registry.get(kind)


def record_name(cls: type[Any]) -> str:
    """The stable name a class is logged under (``RecordError`` when it has none)."""
    name = _names.get(cls)
    if name is None:
        raise RecordError(f"{cls.__name__} has no record name (add it to io/recordkinds.py TYPES)")
    return name


def to_record(obj: Any) -> tuple[str, dict[str, Any]]:
    """A frozen dataclass instance -> (its stable name, a JSON-native dict of its fields)."""
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        raise RecordError(f"to_record needs a dataclass instance, got {type(obj).__name__}")
    return record_name(type(obj)), _encode_fields(obj, "")


def from_record(kind: str, data: Mapping[str, Any]) -> Any:
    """Rebuild the dataclass that `to_record` encoded; unknown kinds raise `RecordError`."""
    cls = record_class(kind)
    if cls is None:
        raise RecordError(f"unknown record kind {kind!r} (not in io/recordkinds.py TYPES)")
    return _decode_dataclass(cls, data, kind)


_HINTS: dict[type[Any], dict[str, Any]] = {}


def _hints(cls: type[Any]) -> dict[str, Any]:
    # resolving hints compiles their strings: once per class is enough
    cached = _HINTS.get(cls)
    if cached is not None:
        return cached
    _HINTS[cls] = hints = _resolve_hints(cls)
    return hints


def _resolve_hints(cls: type[Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls, globalns=vars(sys.modules[cls.__module__]))
    except (NameError, KeyError) as e:
        raise RecordError(f"cannot resolve the field types of {cls.__name__}: {e}") from e


def _encode_fields(obj: Any, where: str) -> dict[str, Any]:
    hints = _hints(type(obj))
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        out[f.name] = _encode(getattr(obj, f.name), hints.get(f.name, Any), f"{where}{f.name}")
    return out


def _is_exact_dataclass_hint(hint: Any, value: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint) and type(value) is hint


def _encode(value: Any, hint: Any, where: str) -> Any:
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, enum.Enum):
        if isinstance(hint, type) and type(value) is hint:
            return _encode(value.value, Any, where)
        raise RecordError(f"{where}: enum {value!r} in an untyped position cannot be decoded")
    if isinstance(value, int | float):
        if isinstance(value, float) and value != value:
            raise RecordError(f"{where}: NaN cannot be logged")
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = _encode_fields(value, where + ".")
        if not _is_exact_dataclass_hint(hint, value):
            fields = {KIND_KEY: record_name(type(value)), **fields}
        return fields
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if isinstance(value, frozenset | set):
        item = args[0] if origin in (frozenset, set) and args else Any
        encoded = [_encode(v, item, f"{where}[]") for v in value]
        return sorted(encoded, key=lambda v: json.dumps(v, sort_keys=True))
    if isinstance(value, tuple | list):
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise RecordError(f"{where}: expected {len(args)} items, got {len(value)}")
            return [_encode(v, h, f"{where}[{i}]") for i, (v, h) in enumerate(zip(value, args, strict=True))]
        item = args[0] if origin in (tuple, list) and args else Any
        return [_encode(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        vhint = args[1] if origin in (dict, Mapping) and len(args) == 2 else Any
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise RecordError(f"{where}: mapping key {k!r} is not a string")
            out[k] = _encode(v, vhint, f"{where}.{k}")
        return out
    raise RecordError(f"{where}: cannot log a {type(value).__name__}")


def _decode_dataclass(cls: type[Any], data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise RecordError(f"{where}: expected an object for {cls.__name__}, got {type(data).__name__}")
    hints = _hints(cls)
    kwargs: dict[str, Any] = {}
    names = set()
    for f in dataclasses.fields(cls):
        names.add(f.name)
        if f.name in data:
            kwargs[f.name] = _decode(data[f.name], hints.get(f.name, Any), f"{where}.{f.name}")
        elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            raise RecordError(f"{where}: field {f.name!r} of {cls.__name__} is missing")
    extra = set(data) - names - {KIND_KEY}
    if extra:
        raise RecordError(f"{where}: unknown fields for {cls.__name__}: {sorted(extra)}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as e:
        raise RecordError(f"{where}: cannot build {cls.__name__}: {e}") from e


def _decode_tagged(value: Any, where: str) -> Any:
    if isinstance(value, Mapping) and isinstance(value.get(KIND_KEY), str):
        cls = record_class(value[KIND_KEY])
        if cls is None:
            raise RecordError(f"{where}: unknown record kind {value[KIND_KEY]!r}")
        return _decode_dataclass(cls, value, where)
    return None


def _decode(value: Any, hint: Any, where: str) -> Any:
    if hint is Any or hint is object:
        tagged = _decode_tagged(value, where)
        return value if tagged is None else tagged
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        tagged = _decode_tagged(value, where)
        if tagged is not None:
            return tagged
        concrete = [a for a in args if a is not type(None)]
        if len(concrete) == 1:
            return _decode(value, concrete[0], where)
        for a in concrete:  # plain scalars: the first type the value already is
            if isinstance(a, type) and isinstance(value, a):
                return value
        raise RecordError(f"{where}: {value!r} matches none of {hint}")
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _decode_dataclass(hint, value, where)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError as e:
            raise RecordError(f"{where}: {e}") from e
    if origin in (tuple, list, frozenset, set):
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        if origin is tuple and args and args[-1] is not Ellipsis:
            if len(args) != len(value):
                raise RecordError(f"{where}: expected {len(args)} items, got {len(value)}")
            return tuple(
                _decode(v, h, f"{where}[{i}]") for i, (v, h) in enumerate(zip(value, args, strict=True))
            )
        item = args[0] if args else Any
        items = [_decode(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
        container: Any = origin
        return container(items)
    if origin in (dict, Mapping) or hint in (dict, Mapping):
        if not isinstance(value, Mapping):
            raise RecordError(f"{where}: expected an object, got {type(value).__name__}")
        vhint = args[1] if len(args) == 2 else Any
        return {k: _decode(v, vhint, f"{where}.{k}") for k, v in value.items()}
    if hint in (tuple, list, frozenset, set):
        if not isinstance(value, list):
            raise RecordError(f"{where}: expected a list, got {type(value).__name__}")
        return hint(value)
    if hint is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if isinstance(hint, type) and not isinstance(value, hint):
        raise RecordError(f"{where}: expected {hint.__name__}, got {type(value).__name__}")
    if hint is int and isinstance(value, bool):
        raise RecordError(f"{where}: expected int, got bool")
    return value
