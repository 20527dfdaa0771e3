"""Network profiles for the race simulator: TOML files in ``bench/profiles/`` (docs/timing.md).

A profile describes the paths between podiums and the host (one-way delay per direction, loss,
congestion), the podiums' crystals and buttons (clock skew and offset, capture latency), the
cadence of the show, the shape of the gaps between presses, and scheduled events. Podiums may be
split into ``[[groups]]`` with their own paths; a group inherits every top-level section and
overrides what it names. Every key is checked: an unknown key or section is an error naming it.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Mapping as CMapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

# bench/profiles, linked into the package (package data: an installed wheel has them too)
PROFILE_DIR = Path(__file__).parent / "profiles"


class ProfileError(ValueError):
    """A profile file is missing, unreadable or has a bad value (message says which)."""


@dataclass(frozen=True, slots=True)
class DelaySpec:
    """One direction's one-way delay (ms): floor + body (idle or lognormal) + occasional tail."""

    floor_ms: float
    body_median_ms: float
    body_sigma: float
    tail_p: float
    tail_median_ms: float
    tail_sigma: float
    max_ms: float  # body and tail together never exceed this
    # idle medium: this share of messages skips the contention body (floor + backoff jitter only)
    idle_p: float = 0.0
    idle_jitter_ms: float = 0.0
    tail: str = "lognormal"  # or "pareto": scale such that its median is tail_median_ms
    tail_alpha: float = 1.5  # pareto shape (smaller: heavier)


@dataclass(frozen=True, slots=True)
class LossSpec:
    loss_p: float  # per message; QoS 1 is resent after a retransmission delay, QoS 0 is lost
    retransmit_median_ms: float
    retransmit_sigma: float


@dataclass(frozen=True, slots=True)
class CongestionSpec:
    burst_p: float  # per podium and race: extra delay on every message of that race
    burst_median_ms: float
    burst_sigma: float


@dataclass(frozen=True, slots=True)
class CaptureSpec:
    """Button edge -> the podium's stamp (µs): lognormal body, and with ``tail_p`` a uniform
    delay in [tail_min_us, tail_max_us] (a GC pass or a flash write in progress); at most max_us.
    ``board`` is the ``hello.board`` the podium announces; ``declare``: it also announces
    ``hello.cap`` = [p99, max_us] (else the host uses the board's default bound)."""

    board: str = "none"  # "none": no capture latency and no capture bound (the old simulator)
    median_us: float = 0.0
    sigma: float = 0.0
    tail_p: float = 0.0
    tail_min_us: float = 0.0
    tail_max_us: float = 0.0
    max_us: float = 0.0
    declare: bool = False


@dataclass(frozen=True, slots=True)
class StampingSpec:
    """Software between the wire and a timestamp (µs, lognormal medians with one ``sigma``):
    ``*_read_us`` from a message's bytes arriving to its stamp (an event loop busy elsewhere),
    ``*_write_us`` from a stamp to the bytes leaving. Zero everywhere: perfect stamping."""

    host_read_us: float = 0.0
    host_write_us: float = 0.0
    podium_read_us: float = 0.0
    podium_write_us: float = 0.0
    sigma: float = 0.0


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    count: int
    asymmetry: float  # per podium, the up and down floors differ by up to +-this share
    up: DelaySpec
    down: DelaySpec
    loss: LossSpec
    congestion: CongestionSpec
    capture: CaptureSpec


@dataclass(frozen=True, slots=True)
class ScheduledEvent:
    """``reboot`` podium ``podium`` (1-based), a ``congestion`` burst of ``extra_ms`` on every
    podium of ``group`` for ``duration_s``, or a ``queue`` change: for ``duration_s`` the
    ``direction`` ("up" or "down") of ``group``'s paths takes the given ``idle_p``,
    ``body_median_ms``, ``body_sigma`` (a queue that fills or drains, not a longer floor); ``at_s``
    seconds after the show starts, and again every ``every_s`` seconds when that is given."""

    at_s: float
    kind: str
    podium: int | None = None
    group: str | None = None
    duration_s: float = 0.0
    extra_ms: float = 0.0
    direction: str | None = None
    every_s: float = 0.0
    idle_p: float | None = None
    body_median_ms: float | None = None
    body_sigma: float | None = None

    def reshape(self, d: DelaySpec) -> DelaySpec:
        """A direction's delay while this ``queue`` event lasts."""
        return replace(
            d,
            idle_p=d.idle_p if self.idle_p is None else self.idle_p,
            body_median_ms=d.body_median_ms if self.body_median_ms is None else self.body_median_ms,
            body_sigma=d.body_sigma if self.body_sigma is None else self.body_sigma,
        )

    def active(self, since_start_s: float) -> bool:
        """Whether a timed event (congestion, queue) is in effect this long after the start."""
        t = since_start_s - self.at_s
        if t < 0:
            return False
        if self.every_s > 0:
            t %= self.every_s
        return t < self.duration_s


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    podiums: int
    groups: tuple[Group, ...]
    # clocks
    skew_ppm: float
    wander_ppm: float  # random-walk step of the skew, per race
    reboot_p: float  # per podium and race
    offset_s: tuple[float, float]  # a podium's clock reads this (uniform) when the show starts
    # cadence
    sync_ms: float
    heartbeat_ms: float
    race_interval_ms: float
    turnaround_us: int
    # races: gaps between successive presses
    gaps: str  # "log-uniform" in [min_gap_ms, max_gap_ms] or "exponential" with mean_gap_ms
    min_gap_ms: float
    max_gap_ms: float
    mean_gap_ms: float
    events: tuple[ScheduledEvent, ...] = ()
    stamping: StampingSpec = StampingSpec()

    def describe(self) -> dict[str, Any]:
        """Every resolved value (groups with their inherited paths), JSON-ready."""
        return asdict(self)

    def group_of(self, index: int) -> Group:
        """The group of podium ``index`` (0-based): groups fill podiums in file order."""
        for g in self.groups:
            if index < g.count:
                return g
            index -= g.count
        raise IndexError(index)


# ---- schema ----------------------------------------------------------------------------------

_NUM, _PROB, _INT, _BOOL, _STR, _PAIR = "num", "prob", "int", "bool", "str", "pair"

_DELAY_KEYS: dict[str, object] = {
    "floor_ms": _NUM,
    "body_median_ms": _NUM,
    "body_sigma": _NUM,
    "tail_p": _PROB,
    "tail_median_ms": _NUM,
    "tail_sigma": _NUM,
    "max_ms": _NUM,
    "idle_p": _PROB,
    "idle_jitter_ms": _NUM,
    "tail": ("lognormal", "pareto"),
    "tail_alpha": _NUM,
}
_SECTIONS: dict[str, dict[str, object]] = {
    "loss": {"loss_p": _PROB, "retransmit_median_ms": _NUM, "retransmit_sigma": _NUM},
    "congestion": {"burst_p": _PROB, "burst_median_ms": _NUM, "burst_sigma": _NUM},
    "capture": {
        "board": _STR,
        "median_us": _NUM,
        "sigma": _NUM,
        "tail_p": _PROB,
        "tail_min_us": _NUM,
        "tail_max_us": _NUM,
        "max_us": _NUM,
        "declare": _BOOL,
    },
    "clock": {"skew_ppm": _NUM, "wander_ppm": _NUM, "reboot_p": _PROB, "offset_s": _PAIR},
    "timing": {"sync_ms": _NUM, "heartbeat_ms": _NUM, "race_interval_ms": _NUM, "turnaround_us": _INT},
    "stamping": {
        "host_read_us": _NUM,
        "host_write_us": _NUM,
        "podium_read_us": _NUM,
        "podium_write_us": _NUM,
        "sigma": _NUM,
    },
    "races": {
        "gaps": ("log-uniform", "exponential"),
        "min_gap_ms": _NUM,
        "max_gap_ms": _NUM,
        "mean_gap_ms": _NUM,
    },
}
_REQUIRED = {
    "delay": ("floor_ms", "body_median_ms", "body_sigma", "tail_p", "tail_median_ms", "tail_sigma", "max_ms"),
    "loss": ("loss_p", "retransmit_median_ms", "retransmit_sigma"),
    "congestion": ("burst_p", "burst_median_ms", "burst_sigma"),
    "clock": ("skew_ppm", "wander_ppm", "reboot_p"),
    "timing": ("sync_ms", "heartbeat_ms", "race_interval_ms", "turnaround_us"),
    "races": (),
}
_TOP = {"name", "podiums", "delay", "groups", "events", *_SECTIONS}
_GROUP_TOP = {"name", "count", "delay", "loss", "congestion", "capture"}
_EVENT_KEYS: dict[str, object] = {
    "at_s": _NUM,
    "kind": ("reboot", "congestion", "queue"),
    "podium": _INT,
    "group": _STR,
}
_EVENT_KEYS |= {"duration_s": _NUM, "extra_ms": _NUM, "every_s": _NUM, "direction": ("up", "down")}
_EVENT_KEYS |= {"idle_p": _PROB, "body_median_ms": _NUM, "body_sigma": _NUM}
_QUEUE_KEYS = ("direction", "idle_p", "body_median_ms", "body_sigma")


def _value(where: str, key: str, v: object, kind: object) -> object:
    if isinstance(kind, tuple):
        if v not in kind:
            raise ProfileError(f"{where} {key} must be one of {', '.join(kind)}")
        return v
    if kind == _BOOL:
        if not isinstance(v, bool):
            raise ProfileError(f"{where} {key} must be true or false")
        return v
    if kind == _STR:
        if not isinstance(v, str) or not v:
            raise ProfileError(f"{where} {key} must be a non-empty string")
        return v
    if kind == _PAIR:
        ok = isinstance(v, list) and len(v) == 2 and all(_finite(x) and x >= 0 for x in v)
        if not ok or v[0] > v[1]:  # type: ignore[index]
            raise ProfileError(f"{where} {key} must be [low, high] with 0 <= low <= high")
        return (float(v[0]), float(v[1]))  # type: ignore[index]
    if kind == _INT:
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ProfileError(f"{where} {key} must be an integer >= 0")
        return v
    if not _finite(v) or v < 0:  # type: ignore[operator]
        raise ProfileError(f"{where} {key} must be a number >= 0")
    if kind == _PROB and v >= 1:  # type: ignore[operator]
        raise ProfileError(f"{where} {key} must be below 1")
    return float(v)  # type: ignore[arg-type]


def _finite(v: object) -> bool:
    return not isinstance(v, bool) and isinstance(v, int | float) and math.isfinite(v)


def _table(
    where: str, data: object, schema: CMapping[str, object], tables: tuple[str, ...] = ()
) -> dict[str, Any]:
    """Check one TOML table: every key known (sub-tables only those in ``tables``), values valid."""
    if not isinstance(data, dict):
        raise ProfileError(f"{where} must be a table")
    out: dict[str, Any] = {}
    for key, v in data.items():
        if key in tables:
            continue
        if key not in schema:
            raise ProfileError(f"{where} unknown key {key!r} (known: {', '.join(sorted(schema))})")
        out[key] = _value(where, key, v, schema[key])
    return out


def _delay_tables(where: str, data: object) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """A [delay] table: (both directions, up only, down only); asymmetry only in the common part."""
    schema = {**_DELAY_KEYS, "asymmetry": _PROB}
    common = _table(f"{where}[delay]", data, schema, tables=("up", "down"))
    assert isinstance(data, dict)
    up = _table(f"{where}[delay.up]", data.get("up", {}), _DELAY_KEYS)
    down = _table(f"{where}[delay.down]", data.get("down", {}), _DELAY_KEYS)
    return common, up, down


def _delay_spec(where: str, values: dict[str, Any]) -> DelaySpec:
    missing = [k for k in _REQUIRED["delay"] if k not in values]
    if missing:
        raise ProfileError(f"{where} missing {', '.join(missing)}")
    return DelaySpec(**{k: v for k, v in values.items() if k != "asymmetry"})


def load_profile(name_or_path: str) -> Profile:
    """Load ``bench/profiles/NAME.toml`` or any TOML path; raises ProfileError with a reason."""
    path = Path(name_or_path)
    if not path.suffix:
        path = PROFILE_DIR / f"{name_or_path}.toml"
    if not path.is_file():
        known = sorted(p.stem for p in PROFILE_DIR.glob("*.toml"))
        raise ProfileError(f"no profile {name_or_path!r} (known: {', '.join(known)}; or give a .toml path)")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ProfileError(f"{path}: cannot read profile: {exc}") from exc
    try:
        return _parse(data, path.stem)
    except ProfileError as exc:
        raise ProfileError(f"{path}: {exc}") from None


def _parse(data: dict[str, Any], stem: str) -> Profile:
    for key in data:
        if key not in _TOP:
            raise ProfileError(f"unknown top-level key or section {key!r} (known: {', '.join(sorted(_TOP))})")
    name = data.get("name", stem)
    if not isinstance(name, str) or not name:
        raise ProfileError("name must be a non-empty string")
    for section in ("delay", *_REQUIRED):
        if section not in data:
            raise ProfileError(f"missing section [{section}]")
    sections = {s: _table(f"[{s}]", data.get(s, {}), schema) for s, schema in _SECTIONS.items()}
    for section, keys in _REQUIRED.items():
        if section == "delay":
            continue  # checked per direction and group
        missing = [k for k in keys if k not in sections[section]]
        if missing:
            raise ProfileError(f"[{section}] missing {', '.join(missing)}")
    delay = _delay_tables("", data["delay"])
    groups = _groups(data, delay, sections)
    podiums = data.get("podiums", sum(g.count for g in groups))
    if isinstance(podiums, bool) or not isinstance(podiums, int) or not 2 <= podiums <= 64:
        raise ProfileError("podiums must be an integer from 2 to 64")
    if "groups" not in data:
        groups = [replace(groups[0], count=podiums)]
    elif sum(g.count for g in groups) != podiums:
        total = sum(g.count for g in groups)
        raise ProfileError(f"the groups' counts add up to {total}, not podiums = {podiums}")
    clock, timing, races = sections["clock"], sections["timing"], sections["races"]
    gaps = races.get("gaps", "log-uniform")
    lo, hi = races.get("min_gap_ms", 0.05), races.get("max_gap_ms", 200.0)
    mean = races.get("mean_gap_ms", 0.0)
    if gaps == "log-uniform" and not 0 < lo < hi:
        raise ProfileError("[races] needs 0 < min_gap_ms < max_gap_ms")
    if gaps == "exponential" and mean <= 0:
        raise ProfileError("[races] gaps = 'exponential' needs mean_gap_ms > 0")
    if timing["sync_ms"] <= 0 or timing["heartbeat_ms"] <= 0 or timing["race_interval_ms"] <= 0:
        raise ProfileError("[timing] intervals must be > 0")
    events = _events(data.get("events", []), podiums, {g.name for g in groups})
    return Profile(
        name=name,
        podiums=podiums,
        groups=tuple(groups),
        skew_ppm=clock["skew_ppm"],
        wander_ppm=clock["wander_ppm"],
        reboot_p=clock["reboot_p"],
        offset_s=clock.get("offset_s", (1.0, 60.0)),
        sync_ms=timing["sync_ms"],
        heartbeat_ms=timing["heartbeat_ms"],
        race_interval_ms=timing["race_interval_ms"],
        turnaround_us=timing["turnaround_us"],
        gaps=gaps,
        min_gap_ms=lo,
        max_gap_ms=hi,
        mean_gap_ms=mean,
        events=events,
        stamping=StampingSpec(**sections["stamping"]),
    )


def _group(
    where: str,
    name: str,
    count: int,
    delay: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    sections: dict[str, dict[str, Any]],
) -> Group:
    common, up, down = delay
    return Group(
        name=name,
        count=count,
        asymmetry=common.get("asymmetry", 0.0),
        up=_delay_spec(f"{where}[delay.up]", {**common, **up}),
        down=_delay_spec(f"{where}[delay.down]", {**common, **down}),
        loss=LossSpec(**sections["loss"]),
        congestion=CongestionSpec(**sections["congestion"]),
        capture=CaptureSpec(**sections["capture"]),
    )


def _groups(
    data: dict[str, Any],
    delay: tuple[dict[str, Any], dict[str, Any], dict[str, Any]],
    sections: dict[str, dict[str, Any]],
) -> list[Group]:
    raw = data.get("groups")
    if raw is None:
        return [_group("", "all", 1, delay, sections)]
    if not isinstance(raw, list) or not raw:
        raise ProfileError("groups must be a non-empty array of tables ([[groups]])")
    out: list[Group] = []
    for i, g in enumerate(raw, 1):
        where = f"[[groups]] #{i} "
        if not isinstance(g, dict):
            raise ProfileError(f"{where}must be a table")
        for key in g:
            if key not in _GROUP_TOP:
                raise ProfileError(f"{where}unknown key {key!r} (known: {', '.join(sorted(_GROUP_TOP))})")
        name, count = g.get("name"), g.get("count")
        if not isinstance(name, str) or not name or name in {x.name for x in out}:
            raise ProfileError(f"{where}needs a unique non-empty name")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ProfileError(f"{where}({name}) count must be an integer >= 1")
        gd = _delay_tables(where, g.get("delay", {}))
        # inherit: top level both ways < top level per direction < group both ways < group per direction
        common = {**delay[0], **gd[0]}
        up = {**delay[1], **gd[0], **gd[1]}
        down = {**delay[2], **gd[0], **gd[2]}
        up = {k: v for k, v in up.items() if k != "asymmetry"}
        down = {k: v for k, v in down.items() if k != "asymmetry"}
        merged = {
            s: {**sections[s], **_table(f"{where}[{s}]", g.get(s, {}), _SECTIONS[s])}
            for s in ("loss", "congestion", "capture")
        }
        out.append(_group(where, name, count, (common, up, down), {**sections, **merged}))
    return out


def _events(raw: object, podiums: int, groups: set[str]) -> tuple[ScheduledEvent, ...]:
    if not isinstance(raw, list):
        raise ProfileError("events must be an array of tables ([[events]])")
    out = []
    for i, e in enumerate(raw, 1):
        where = f"[[events]] #{i}"
        v = _table(where, e, _EVENT_KEYS)
        if "at_s" not in v or "kind" not in v:
            raise ProfileError(f"{where} needs at_s and kind")
        kind = v["kind"]
        if kind != "queue" and any(k in v for k in _QUEUE_KEYS):
            raise ProfileError(f"{where} {', '.join(_QUEUE_KEYS)} belong to kind = 'queue' only")
        if kind == "reboot":
            if not 1 <= v.get("podium", 0) <= podiums:
                raise ProfileError(f"{where} reboot needs podium from 1 to {podiums}")
            if "every_s" in v:
                raise ProfileError(f"{where} every_s belongs to congestion and queue events")
        else:
            if v.get("group") not in groups:
                raise ProfileError(f"{where} {kind} needs group, one of {', '.join(sorted(groups))}")
            if v.get("duration_s", 0) <= 0:
                raise ProfileError(f"{where} {kind} needs duration_s > 0")
            if 0 < v.get("every_s", 0) < v["duration_s"]:
                raise ProfileError(f"{where} every_s must be at least duration_s")
            if kind == "congestion" and v.get("extra_ms", 0) <= 0:
                raise ProfileError(f"{where} congestion needs extra_ms > 0")
            if kind == "queue" and ("direction" not in v or not any(k in v for k in _QUEUE_KEYS[1:])):
                raise ProfileError(f"{where} queue needs direction and one of {', '.join(_QUEUE_KEYS[1:])}")
            if kind == "queue" and "extra_ms" in v:
                raise ProfileError(f"{where} extra_ms belongs to congestion events")
        out.append(ScheduledEvent(**v))
    return tuple(sorted(out, key=lambda e: e.at_s))
