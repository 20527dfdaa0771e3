"""Simulated network paths, podium clocks and button capture, driven by a profile
(``buzzline.sim.profile``, files in ``bench/profiles/``); everything draws from a seeded Random.
"""

from __future__ import annotations

import math
import random

from buzzline.sim.profile import (
    PROFILE_DIR,
    CaptureSpec,
    CongestionSpec,
    DelaySpec,
    LossSpec,
    Profile,
    ProfileError,
    load_profile,
)

__all__ = [
    "PROFILE_DIR",
    "NetPath",
    "PodiumClock",
    "Profile",
    "ProfileError",
    "burst_us",
    "capture_us",
    "gap_us",
    "load_profile",
    "stamping_us",
]


def _lognormal_ms(rng: random.Random, median_ms: float, sigma: float) -> float:
    if median_ms <= 0:
        return 0.0
    return median_ms * math.exp(sigma * rng.gauss(0.0, 1.0))


def _tail_ms(rng: random.Random, d: DelaySpec) -> float:
    if d.tail == "pareto":
        # Pareto with its median at tail_median_ms: scale * U^(-1/alpha), median = scale * 2^(1/alpha)
        alpha = max(d.tail_alpha, 0.05)
        scale = d.tail_median_ms / 2 ** (1 / alpha)
        return float(scale * (1.0 - rng.random()) ** (-1 / alpha))
    return _lognormal_ms(rng, d.tail_median_ms, d.tail_sigma)


class NetPath:
    """One direction of one podium's network path; delays in µs."""

    def __init__(self, delay: DelaySpec, loss: LossSpec, rng: random.Random, floor_scale: float) -> None:
        self.d = delay
        self.loss = loss
        self.rng = rng
        self.floor_us = delay.floor_ms * 1000 * floor_scale
        self.burst_us = 0.0  # extra delay while a congestion burst lasts

    def delay_us(self, reliable: bool = True) -> int | None:
        """Delay of one message; None when an unreliable (QoS 0) message is lost."""
        d, rng = self.d, self.rng
        if d.idle_p and rng.random() < d.idle_p:
            ms = rng.uniform(0.0, d.idle_jitter_ms)
        else:
            ms = _lognormal_ms(rng, d.body_median_ms, d.body_sigma)
        if rng.random() < d.tail_p:
            ms += _tail_ms(rng, d)
        us = min(ms, d.max_ms) * 1000 + self.floor_us + self.burst_us
        while rng.random() < self.loss.loss_p:
            if not reliable:
                return None
            us += _lognormal_ms(rng, self.loss.retransmit_median_ms, self.loss.retransmit_sigma) * 1000
        return int(us)


def capture_us(rng: random.Random, c: CaptureSpec) -> int:
    """How late one press is stamped (button edge -> ticks_us read), µs."""
    if c.board == "none":
        return 0
    if c.tail_p and rng.random() < c.tail_p:
        v = rng.uniform(c.tail_min_us, c.tail_max_us)
    else:
        v = c.median_us * math.exp(c.sigma * rng.gauss(0.0, 1.0)) if c.median_us > 0 else 0.0
    return int(min(v, c.max_us) if c.max_us > 0 else v)


def stamping_us(rng: random.Random, median_us: float, sigma: float) -> int:
    """Software time between the wire and a stamp (``[stamping]``), µs; 0 when not modelled."""
    if median_us <= 0:
        return 0
    return round(median_us * math.exp(sigma * rng.gauss(0.0, 1.0)))


def gap_us(p: Profile, rng: random.Random) -> int:
    """The true time between two successive presses of a race, µs (the profile's gap shape)."""
    if p.gaps == "exponential":
        return max(1, round(rng.expovariate(1.0 / p.mean_gap_ms) * 1000))
    lo, hi = math.log(p.min_gap_ms), math.log(p.max_gap_ms)
    return max(1, round(math.exp(rng.uniform(lo, hi)) * 1000))


def burst_us(c: CongestionSpec, rng: random.Random) -> float:
    """Extra delay on every message of one podium during one race (0 without a burst), µs."""
    if rng.random() < c.burst_p:
        return c.burst_median_ms * 1000 * math.exp(c.burst_sigma * rng.gauss(0, 1))
    return 0.0


class PodiumClock:
    """A podium's crystal: podium µs as a piecewise-linear function of true host µs."""

    def __init__(
        self, rng: random.Random, skew_ppm: float, host_us: int, offset_s: tuple[float, float] = (1.0, 60.0)
    ) -> None:
        self.rng = rng
        self.max_ppm = skew_ppm
        self.skew = rng.uniform(-skew_ppm, skew_ppm) * 1e-6
        self.boot = 1
        self._anchor_host = host_us
        # podium clocks count from their boot, unrelated to the host clock
        self._anchor_pod = rng.randrange(int(offset_s[0] * 1e6), int(offset_s[1] * 1e6) + 1)

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
