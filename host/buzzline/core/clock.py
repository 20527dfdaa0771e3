"""Per-podium clock model: maps podium time onto the host clock with an error bound.

Fed NTP-style four-timestamp exchanges (protocol v1 ``sync``/``syncr``); pure and deterministic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from buzzline.core.types import Mapping

# An error bound so wide that no ordering can rest on it (no samples at all).
UNKNOWN_ERR_US = 10**12


@dataclass(frozen=True, slots=True)
class SyncSample:
    """One exchange: podium midpoint ``x`` (podium µs), offset ``y`` = host - podium, round trip."""

    x: int
    y: int
    rtt: int


@dataclass(frozen=True, slots=True)
class _Fit:
    x_ref: int
    y_ref: int
    a: float  # offset at x_ref, relative to y_ref
    b: float  # skew (dimensionless, µs per µs)
    x_mean: float  # weighted mean of x - x_ref
    var_a: float  # variance of the fitted line at x_mean
    var_b: float
    asym_us: float
    x_newest: int


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class ClockModel:
    """Offset and skew of one podium clock, from a window of the lowest-round-trip samples.

    ``map(podium_us)`` returns host time with a half-width error bound made of: an allowance for
    path asymmetry (a fraction of half the minimum round trip, which NTP cannot observe), ``Z``
    standard errors of the weighted regression at that point (this grows with the distance from
    the samples through the skew uncertainty), a wander allowance since the newest sample, and a
    timestamping floor. Fewer than ``MIN_SAMPLES`` samples: ``trusted=False`` and the strict
    bound (half the best round trip plus the worst skew).
    """

    WINDOW = 128  # samples kept (newest): about a minute at one exchange per 500 ms
    MIN_SAMPLES = 40  # below this a mapping is untrusted (about 16 s after boot; skew not yet known)
    FIT_FRACTION = 0.5  # NTP clock filter: fit on the lowest-round-trip half of the window
    Z = 3.0
    ASYMMETRY = 0.1  # share of half the min round trip assumed as undetectable asymmetry (1.0 = strict)
    FLOOR_US = 30  # podium capture and host stamping jitter
    WEIGHT_FLOOR_US = 200  # even the best sample carries this much noise: keeps weights from collapsing
    WANDER_PPM = 0.5  # skew may drift this much away from the fit between samples
    UNTRUSTED_PPM = 100  # worst crystal skew, used while untrusted
    MAX_RTT_US = 2_000_000
    OUTLIER_FACTOR = 4  # round trip above FACTOR * min + MARGIN is a congested outlier
    OUTLIER_MARGIN_US = 20_000
    READMIT_AFTER = 8  # this many consecutive rejections: the path or clock changed, start over

    def __init__(self) -> None:
        self._samples: list[SyncSample] = []
        self._fit: _Fit | None = None
        self._last_t1: int | None = None
        self._rejects = 0

    # ---- input -------------------------------------------------------------------------------

    def reset(self) -> None:
        self._samples = []
        self._fit = None
        self._last_t1 = None
        self._rejects = 0

    def add_sample(self, t1: int, t2: int, t3: int, t4: int) -> bool:
        """Add one exchange (t1, t4 podium µs; t2, t3 host µs). False: rejected, model unchanged."""
        if not (_is_int(t1) and _is_int(t2) and _is_int(t3) and _is_int(t4)):
            return False
        if min(t1, t2, t3, t4) < 0 or t4 < t1 or t3 < t2:
            return False
        rtt = (t4 - t1) - (t3 - t2)
        if rtt < 0 or rtt > self.MAX_RTT_US:
            return False
        if self._last_t1 is not None and t1 <= self._last_t1:
            return False  # replayed or reordered exchange; ClockBook handles a restarted clock
        # Midpoints; keep the half-microsecond by flooring (both sides consistently).
        x = (t1 + t4) // 2
        y = (t2 + t3) // 2 - x
        sample = SyncSample(x, y, rtt)
        if self._is_outlier(sample):
            self._rejects += 1
            if self._rejects < self.READMIT_AFTER:
                return False
            # Persistent disagreement: the path or the clock changed under us; re-converge.
            self.reset()
        self._rejects = 0
        self._last_t1 = t1
        self._samples.append(sample)
        if len(self._samples) > self.WINDOW:
            del self._samples[0]
        self._refit()
        return True

    def _is_outlier(self, s: SyncSample) -> bool:
        if not self._samples:
            return False
        rtt_min = min(p.rtt for p in self._samples)
        if s.rtt > self.OUTLIER_FACTOR * rtt_min + self.OUTLIER_MARGIN_US:
            return True
        if self._fit is None or len(self._samples) < self.MIN_SAMPLES:
            return False
        # A sample's true offset lies within rtt/2 of its measurement: disagreeing beyond that
        # (plus our own bound) means a garbage timestamp or a clock step.
        pred, err = self._predict(s.x)
        return abs(s.y - pred) > s.rtt / 2 + err + self.OUTLIER_MARGIN_US

    def _refit(self) -> None:
        n_all = len(self._samples)
        newest = self._samples[-1]
        rtt_min = min(p.rtt for p in self._samples)
        k = max(min(n_all, 3), math.ceil(n_all * self.FIT_FRACTION))
        chosen = sorted(self._samples, key=lambda p: (p.rtt, p.x))[:k]
        asym = self.ASYMMETRY * rtt_min / 2
        x_ref, y_ref = newest.x, newest.y
        # One pass for the weighted sums, one for the centred moments (hot path: plain loops).
        pts: list[tuple[float, float, float]] = []
        w_sum = wx = wy = 0.0
        for p in chosen:
            # Each sample's offset is within its excess round trip (over the best) of the truth.
            sigma = self.WEIGHT_FLOOR_US + (p.rtt - rtt_min) / 2
            w = 1.0 / (sigma * sigma)
            x = float(p.x - x_ref)
            y = float(p.y - y_ref)
            pts.append((w, x, y))
            w_sum += w
            wx += w * x
            wy += w * y
        xm = wx / w_sum
        ym = wy / w_sum
        sxx = sxy = 0.0
        x_lo = x_hi = pts[0][1]
        for w, x, y in pts:
            dx = x - xm
            sxx += w * dx * dx
            sxy += w * dx * (y - ym)
            x_lo = min(x_lo, x)
            x_hi = max(x_hi, x)
        n = len(pts)
        if n >= 3 and sxx > 0 and (x_hi - x_lo) >= 1000:
            b = sxy / sxx
            ssr = 0.0
            for w, x, y in pts:
                r = y - ym - b * (x - xm)
                ssr += w * r * r
            # Residual scale from the data itself (the sigmas above only set relative weights).
            s2 = max(ssr / (n - 2), 1e-6)
            # Crystals are within UNTRUSTED_PPM: a short noisy window cannot claim more.
            lim = self.UNTRUSTED_PPM * 1e-6
            var_a = s2 / w_sum
            var_b = s2 / sxx
            if abs(b) > lim:  # the window is lying (tails); claim no skew knowledge at all
                b = 0.0
                var_b = max(var_b, lim * lim)
        else:
            b = 0.0
            var_a = 1.0 / w_sum
            var_b = (self.UNTRUSTED_PPM * 1e-6) ** 2
        self._fit = _Fit(x_ref, y_ref, ym, b, xm, var_a, var_b, asym, newest.x)

    # ---- output ------------------------------------------------------------------------------

    def _predict(self, podium_us: int) -> tuple[float, float]:
        """(offset relative to nothing, i.e. host - podium; error half-width) at ``podium_us``."""
        f = self._fit
        if f is None:
            return 0.0, float(UNKNOWN_ERR_US)
        dx = float(podium_us - f.x_ref) - f.x_mean
        y = f.y_ref + f.a + f.b * dx
        since = abs(podium_us - f.x_newest)
        if len(self._samples) < self.MIN_SAMPLES:
            best = min(p.rtt for p in self._samples)
            err = best / 2 + self.FLOOR_US + self.UNTRUSTED_PPM * 1e-6 * since
            return y, err
        se = math.sqrt(f.var_a + dx * dx * f.var_b)
        err = f.asym_us + self.Z * se + self.FLOOR_US + self.WANDER_PPM * 1e-6 * since
        return y, err

    def map(self, podium_us: int) -> Mapping:
        """Podium time → host time with a half-width error bound; never raises on garbage."""
        if not _is_int(podium_us) or self._fit is None:
            return Mapping(
                host_us=podium_us if _is_int(podium_us) else 0, err_us=UNKNOWN_ERR_US, trusted=False
            )
        y, err = self._predict(podium_us)
        return Mapping(
            host_us=podium_us + round(y),
            err_us=min(UNKNOWN_ERR_US, math.ceil(err)),
            trusted=self.trusted,
        )

    @property
    def samples(self) -> int:
        return len(self._samples)

    @property
    def trusted(self) -> bool:
        return len(self._samples) >= self.MIN_SAMPLES

    @property
    def err_us(self) -> int:
        """Error bound at the newest sample (what a press now would get, give or take wander)."""
        if self._fit is None:
            return UNKNOWN_ERR_US
        return self.map(self._fit.x_newest).err_us

    @property
    def offset_us(self) -> int:
        """host - podium at the newest sample (0 before any sample)."""
        if self._fit is None:
            return 0
        offset: float = self._predict(self._fit.x_newest)[0]
        return round(offset)

    @property
    def skew_ppm(self) -> float:
        return 0.0 if self._fit is None else self._fit.b * 1e6

    @property
    def min_rtt_us(self) -> int | None:
        return min((p.rtt for p in self._samples), default=None)


class ClockBook:
    """Clock models keyed by podium id, restarted when a podium reboots or its time runs backwards."""

    # Messages on different topics (sync vs up) interleave, so a timestamp may legitimately be a
    # little older than the newest seen; a restarted clock jumps back by its whole uptime.
    BACKWARDS_TOLERANCE_US = 5_000_000

    def __init__(self) -> None:
        self._models: dict[str, ClockModel] = {}
        self._boots: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self.resets = 0

    def model(self, podium: str, boot: int) -> ClockModel:
        """The model for this podium's current boot; a new boot nonce gives a fresh model."""
        m = self._models.get(podium)
        if m is None or self._boots.get(podium) != boot:
            if m is not None:
                self.resets += 1
            m = ClockModel()
            self._models[podium] = m
            self._boots[podium] = boot
            self._last.pop(podium, None)
        return m

    def get(self, podium: str) -> ClockModel | None:
        return self._models.get(podium)

    def note_time(self, podium: str, boot: int, podium_us: int) -> bool:
        """Record a podium timestamp seen in any message; True if the model was (re)started."""
        fresh = podium not in self._models or self._boots.get(podium) != boot
        m = self.model(podium, boot)
        if not _is_int(podium_us):
            return fresh
        last = self._last.get(podium)
        if last is not None and podium_us < last - self.BACKWARDS_TOLERANCE_US:
            # Same boot nonce but time went backwards: a restart we were not told about.
            m.reset()
            self.resets += 1
            fresh = True
        self._last[podium] = podium_us if fresh else max(podium_us, last or 0)
        return fresh

    def map(self, podium: str, podium_us: int) -> Mapping:
        m = self._models.get(podium)
        if m is None:
            return Mapping(host_us=podium_us, err_us=UNKNOWN_ERR_US, trusted=False)
        return m.map(podium_us)

    def forget(self, podium: str) -> None:
        self._models.pop(podium, None)
        self._boots.pop(podium, None)
        self._last.pop(podium, None)
