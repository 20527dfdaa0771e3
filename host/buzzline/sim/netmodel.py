"""Simulated network paths and podium clocks, driven by profile files in ``bench/profiles/``.

A profile is TOML data (one-way delays up and down, heavy tails, loss with retransmission,
congestion bursts, clock skew and wander, reboots); everything draws from a seeded Random.
"""

from __future__ import annotations

import math
import random
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROFILE_DIR = Path(__file__).resolve().parents[3] / "bench" / "profiles"


class ProfileError(ValueError):
    """A profile file is missing, unreadable or has a bad value (message says which)."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    podiums: int
    # one-way delay (ms): floor * (1 +- asymmetry) + body (idle or lognormal) + occasional tail
    floor_ms: float
    asymmetry: float
    body_median_ms: float
    body_sigma: float
    tail_p: float
    tail_median_ms: float
    tail_sigma: float
    max_ms: float
    # idle medium (optional): this share of messages skips the contention body (delay = floor +
    # uniform jitter of backoff slots); Wi-Fi's CSMA/CA sends at once when nobody else is talking
    idle_p: float
    idle_jitter_ms: float
    # loss: a lost QoS 1 message is resent after a retransmission delay (QoS 0 sync is just lost)
    loss_p: float
    retransmit_median_ms: float
    retransmit_sigma: float
    # congestion bursts: per podium and race, extra delay on every message of that race
    burst_p: float
    burst_median_ms: float
    burst_sigma: float
    # clocks
    skew_ppm: float
    wander_ppm: float  # random-walk step of the skew, per race
    reboot_p: float  # per podium and race
    # cadence
    sync_ms: float
    heartbeat_ms: float
    race_interval_ms: float
    turnaround_us: int
    # races: gaps between successive presses, log-uniform
    min_gap_ms: float
    max_gap_ms: float

    def describe(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


_SECTIONS: dict[str, tuple[str, ...]] = {
    "delay": (
        "floor_ms",
        "asymmetry",
        "body_median_ms",
        "body_sigma",
        "tail_p",
        "tail_median_ms",
        "tail_sigma",
        "max_ms",
    ),
    "loss": ("loss_p", "retransmit_median_ms", "retransmit_sigma"),
    "congestion": ("burst_p", "burst_median_ms", "burst_sigma"),
    "clock": ("skew_ppm", "wander_ppm", "reboot_p"),
    "timing": ("sync_ms", "heartbeat_ms", "race_interval_ms", "turnaround_us"),
    "races": ("min_gap_ms", "max_gap_ms"),
}
_PROBS = ("asymmetry", "tail_p", "loss_p", "burst_p", "reboot_p", "idle_p")
_OPTIONAL = {"idle_p": 0.0, "idle_jitter_ms": 0.0}  # [delay] keys older profiles may omit


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
    values: dict[str, Any] = {"name": str(data.get("name", path.stem))}
    podiums = data.get("podiums")
    if not isinstance(podiums, int) or isinstance(podiums, bool) or not 2 <= podiums <= 64:
        raise ProfileError(f"{path}: podiums must be an integer from 2 to 64")
    values["podiums"] = podiums
    for section, keys in _SECTIONS.items():
        sec = data.get(section)
        if not isinstance(sec, dict):
            raise ProfileError(f"{path}: missing section [{section}]")
        for key in keys:
            v = sec.get(key)
            if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
                raise ProfileError(f"{path}: [{section}] {key} must be a number >= 0")
            if key in _PROBS and v >= 1:
                raise ProfileError(f"{path}: [{section}] {key} must be below 1")
            values[key] = int(v) if key == "turnaround_us" else float(v)
    delay = data["delay"]
    for key, default in _OPTIONAL.items():
        v = delay.get(key, default)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v) or v < 0:
            raise ProfileError(f"{path}: [delay] {key} must be a number >= 0")
        if key in _PROBS and v >= 1:
            raise ProfileError(f"{path}: [delay] {key} must be below 1")
        values[key] = float(v)
    if values["min_gap_ms"] <= 0 or values["max_gap_ms"] <= values["min_gap_ms"]:
        raise ProfileError(f"{path}: [races] needs 0 < min_gap_ms < max_gap_ms")
    if values["sync_ms"] <= 0 or values["heartbeat_ms"] <= 0 or values["race_interval_ms"] <= 0:
        raise ProfileError(f"{path}: [timing] intervals must be > 0")
    return Profile(**values)


def _lognormal_ms(rng: random.Random, median_ms: float, sigma: float) -> float:
    if median_ms <= 0:
        return 0.0
    return median_ms * math.exp(sigma * rng.gauss(0.0, 1.0))


class NetPath:
    """One direction of one podium's network path; delays in µs."""

    def __init__(self, profile: Profile, rng: random.Random, floor_scale: float) -> None:
        self.p = profile
        self.rng = rng
        self.floor_us = profile.floor_ms * 1000 * floor_scale
        self.burst_us = 0.0  # extra delay while a congestion burst lasts

    def delay_us(self, reliable: bool = True) -> int | None:
        """Delay of one message; None when an unreliable (QoS 0) message is lost."""
        p, rng = self.p, self.rng
        if p.idle_p and rng.random() < p.idle_p:
            d = rng.uniform(0.0, p.idle_jitter_ms)
        else:
            d = _lognormal_ms(rng, p.body_median_ms, p.body_sigma)
        if rng.random() < p.tail_p:
            d += _lognormal_ms(rng, p.tail_median_ms, p.tail_sigma)
        d = min(d, p.max_ms) * 1000 + self.floor_us + self.burst_us
        while rng.random() < p.loss_p:
            if not reliable:
                return None
            d += _lognormal_ms(rng, p.retransmit_median_ms, p.retransmit_sigma) * 1000
        return int(d)


class PodiumClock:
    """A podium's crystal: podium µs as a piecewise-linear function of true host µs."""

    def __init__(self, rng: random.Random, skew_ppm: float, host_us: int) -> None:
        self.rng = rng
        self.max_ppm = skew_ppm
        self.skew = rng.uniform(-skew_ppm, skew_ppm) * 1e-6
        self.boot = 1
        self._anchor_host = host_us
        # podium clocks start at boot: a few seconds of uptime, unrelated to the host clock
        self._anchor_pod = rng.randrange(1_000_000, 60_000_000)

    def at(self, host_us: int) -> int:
        return self._anchor_pod + round((host_us - self._anchor_host) * (1 + self.skew))

    def wander(self, host_us: int, step_ppm: float) -> None:
        """Start a new segment with the skew nudged (temperature drift), time continuous."""
        self._anchor_pod = self.at(host_us)
        self._anchor_host = host_us
        s = self.skew + self.rng.gauss(0.0, step_ppm) * 1e-6
        lim = self.max_ppm * 1e-6
        self.skew = max(-lim, min(lim, s))

    def reboot(self, host_us: int) -> None:
        self.boot += 1
        self._anchor_host = host_us
        self._anchor_pod = self.rng.randrange(0, 1000)
