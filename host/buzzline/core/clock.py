"""Per-podium clock model: maps podium time onto the host clock with an error bound.

Fed NTP-style four-timestamp exchanges (protocol v1 ``sync``/``syncr``); pure and deterministic.
(Over 400 lines: the model's fit, its two bounds and the min filter share one set of running
sums; split, the bound would sit apart from the estimate it bounds.)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace

from buzzline.core.types import Mapping

# An error bound so wide that no ordering can rest on it (no samples at all).
UNKNOWN_ERR_US = 10**12

# Capture: from the button's edge to the podium's ticks_us() read (issue 16). A press is stamped
# late by 0..capture bound, never early. Conservative worst cases (µs) per ``hello.board`` for a
# podium that declares nothing (``hello.cap`` = [p99_us, max_us], measured by its selftest):
CAPTURE_DEFAULT_US: dict[str, int] = {
    "picow": 150,  # hard IRQ: ~20-25 µs, a rare 100 µs under load (MicroPython issue #6957)
    "esp32": 10_000,  # soft IRQ only: a GC pass or flash write delays the handler (issue #3894)
    "unix": 500,  # unix-port harness: the IRQ handler runs from the scheduler, no flash or radio
    "sim": 50,  # virtual podiums stamp in the process that presses
}
CAPTURE_UNKNOWN_US = 10_000  # any other board: as bad as the worst we know
CAPTURE_MAX_US = 1_000_000  # a declared bound beyond 1 s is garbage: use the board's default


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
    tq: float  # Student-t multiple for the bound (few samples: wider)
    x_best: int  # fastest exchange (strict bound while samples are few)
    y_best: int
    rtt_best: int
    agree_us: float = 0.0  # disagreement with the min-filtered fit, added to the bound


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _t_quantile(z: float, dof: int) -> float:
    """Student-t quantile matching normal quantile ``z`` (Cornish-Fisher): few samples, wider bound."""
    nu = float(dof)
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )


def declared_cap(cap: object) -> bool:
    """``hello.cap`` is a valid declaration: ``[p99_us, max_us]``, ints, 0 <= p99 <= max <= 1 s."""
    if isinstance(cap, list | tuple) and len(cap) == 2 and all(_is_int(v) for v in cap):
        return bool(0 <= cap[0] <= cap[1] <= CAPTURE_MAX_US)
    return False


def capture_bound_us(board: str, cap: object = None) -> int:
    """The worst capture latency (µs) of a podium: its declared ``hello.cap`` maximum when that is
    valid (``declared_cap``), else the board's default."""
    if declared_cap(cap):
        assert isinstance(cap, list | tuple)
        return int(cap[1])
    return CAPTURE_DEFAULT_US.get(board, CAPTURE_UNKNOWN_US)


def with_capture(m: Mapping, capture_us: int) -> Mapping:
    """A press stamped ``m`` (clock mapping) was pressed 0..``capture_us`` earlier: centre the
    mapping on that interval and widen its bound by half of it, so the bound covers button to host.
    (The same shift applies to a watermark's time: the podium is past ``host_us - capture_us``.)"""
    if capture_us <= 0:
        return m
    half = capture_us // 2
    return Mapping(host_us=m.host_us - half, err_us=m.err_us + capture_us - half, trusted=m.trusted)


class ClockModel:
    """Offset and skew of one podium clock: weighted regression over a window of exchanges.

    Every exchange's offset error is at most half its excess round trip over the path's floor (NTP
    clock filter), so samples are weighted by ``1/(floor + excess/WEIGHT_DIV)^2``: the
    fastest exchanges dominate, congested ones count little. ``map(podium_us)`` returns host time
    with a half-width error bound: an allowance for path asymmetry (a share of half the minimum
    round trip, which NTP cannot observe) + a Student-t multiple of the regression's standard
    error at that point (grows with the distance from the samples through the skew uncertainty)
    + wander since the newest sample + a timestamping floor. The strict bound (half the best
    round trip plus the worst drift) always holds too; the tighter of the two is reported.
    A mapping is ``trusted`` when its bound rests on at least ``MIN_SAMPLES`` exchanges and, less
    the asymmetry allowance, is no wider than ``TRUST_ERR_US`` (a fixed sample count says nothing
    about a noisy path). A reboot restarts the podium's count but not its crystal: ``ClockBook``
    hands the old skew to the new model as a prior, so the boot burst alone pins the offset.
    """

    WINDOW = 512  # samples kept (newest): two minutes at the recommended 4 exchanges/s
    WINDOW_US = 180_000_000  # and no older than this (skew wanders): a slow podium keeps 3 min
    MIN_SAMPLES = 8  # a statistical bound needs this many (the boot burst); fewer: strict bound
    TRUST_ERR_US = 2_000  # trusted: enough samples, and the bound less the allowance is <= 2 ms
    Z = 3.5  # standard errors (Student-t for few samples): 3.0 under-covered on heavy-tailed paths
    # Share of half the min round trip assumed as undetectable asymmetry (1.0 = strict), unless
    # the venue states it: ASYMMETRY on a healthy path, rising to ASYMMETRY_SLOW as the best round
    # trip goes from SLOW_RTT_US[0] to [1]. A path that slow is airtime-bound (a crowded channel,
    # low radio rates), where the up and down rates, and so the floors, differ most.
    ASYMMETRY = 0.1
    ASYMMETRY_SLOW = 0.2
    SLOW_RTT_US = (6_000, 8_000)
    FLOOR_US = 30  # podium capture and host stamping jitter
    WEIGHT_QUANTILE = 0.02  # weight floor from the excess round trip of the fastest 2% (see _full_sums)
    # Min filter: a second fit over only the fastest share of the window (once it holds enough).
    # A congested exchange's error is one-sided when queueing is unequal up and down (a busy
    # uplink), so weighting alone lets a mass of slow exchanges bias the offset; the fastest do
    # not. The full fit is used when the two agree within the filtered fit's bound (its bound
    # widened by the difference), else the filtered one.
    FILTER_QUANTILE = 0.15
    FILTER_MIN = 32  # keep every sample while the window holds fewer than this
    WEIGHT_DIV = 2  # a sample's error grows by up to half its excess round trip (NTP dispersion)
    REWEIGHT_EVERY = 32  # rebuild weights and sums this often (the weight floor follows the window)
    WANDER_PPM = 0.5  # skew may drift this much away from the fit between samples
    UNTRUSTED_PPM = 100  # worst crystal skew
    PRIOR_PPM = 2.0  # a rebooted podium keeps its crystal: its old skew holds within this (1 sigma)
    MAX_RTT_US = 2_000_000
    OUTLIER_FACTOR = 4  # round trip above FACTOR * min + MARGIN is a congested outlier
    OUTLIER_MARGIN_US = 20_000
    READMIT_AFTER = 8  # this many consecutive disagreeing samples: the clock stepped, start over
    SLOW_READMIT_AFTER = 120  # this many consecutive congested ones (30 s at 4/s): a new, slower path

    def __init__(self, skew_prior: float | None = None, asymmetry: float | None = None) -> None:
        self._skew_prior = skew_prior  # dimensionless skew from an earlier boot of this podium
        # the venue's allowance for path asymmetry no round trip can see (None: by the path)
        self.asymmetry = asymmetry
        self.reset()

    # ---- input -------------------------------------------------------------------------------

    def reset(self) -> None:
        self._samples: deque[SyncSample] = deque()
        self._fit: _Fit | None = None
        self._last_t1: int | None = None
        self._rejects = 0
        self._slow = 0
        self._rtt_min = 0
        self._wref = -1  # the min round trip the running sums were weighted with (-1: none)
        self._wfloor = float(self.FLOOR_US)
        self._x0 = self._y0 = 0  # anchors of the running sums (precision)
        self._sums = [0.0] * 8  # W, Wx, Wy, Wxx, Wxy, Wyy, WW, count
        self._fsums = [0.0] * 8  # the same over the fastest exchanges only (min filter)
        self._cut = 1 << 62  # round trips above this stay out of the filtered sums
        self._since_full = 0
        self._best: SyncSample | None = None
        self._trusted = False

    def restart(self) -> None:
        """Forget the samples (the clock restarted) but keep the crystal's skew as a prior."""
        prior = self.skew_known
        if prior is None:
            prior = self._skew_prior
        self.reset()
        self._skew_prior = prior

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
        if self._samples and rtt > self.OUTLIER_FACTOR * self._rtt_min + self.OUTLIER_MARGIN_US:
            # Congested: imprecise, not wrong. A burst of them (seconds) must not wipe the model;
            # only a path that stays this slow for SLOW_READMIT_AFTER exchanges is a new path.
            self._slow += 1
            if self._slow < self.SLOW_READMIT_AFTER:
                return False
            self.restart()
        elif self._disagrees(sample):
            self._rejects += 1
            if self._rejects < self.READMIT_AFTER:
                return False
            # Persistent disagreement: the clock stepped under us; re-converge.
            self.restart()
        self._rejects = 0
        self._slow = 0
        self._last_t1 = t1
        samples = self._samples
        samples.append(sample)
        lost_best = False
        while len(samples) > self.WINDOW or x - samples[0].x > self.WINDOW_US:
            old = samples.popleft()
            lost_best = lost_best or old is self._best
            if self._wref >= 0:
                self._accumulate(old, -1.0)
        if self._best is None or rtt < self._best.rtt:
            self._best = sample
        elif lost_best:  # the fastest exchange left the window
            self._best = min(samples, key=lambda p: p.rtt)
        self._rtt_min = self._best.rtt
        self._since_full += 1
        if self._rtt_min != self._wref or self._since_full >= min(self.REWEIGHT_EVERY, len(samples)):
            self._full_sums()
        else:
            self._accumulate(sample, 1.0)
        self._refit()
        return True

    def _disagrees(self, s: SyncSample) -> bool:
        if self._fit is None or len(self._samples) < self.MIN_SAMPLES:
            return False
        # A sample's true offset lies within rtt/2 of its measurement: disagreeing beyond that
        # (plus our own bound) means a garbage timestamp or a clock step.
        pred, err = self._predict(s.x)
        return abs(s.y - pred) > s.rtt / 2 + err + self.OUTLIER_MARGIN_US

    # Running weighted sums (a sample in, the oldest out) keep an update O(1); they are rebuilt
    # whenever the weights change (a new fastest exchange) and once per window (rounding).
    def _weight(self, rtt: int) -> float:
        sigma = self._wfloor + (rtt - self._wref) / self.WEIGHT_DIV
        return 1.0 / (sigma * sigma)

    def _accumulate(self, p: SyncSample, sign: float) -> None:
        self._add(self._sums, p, sign)
        if p.rtt <= self._cut:
            self._add(self._fsums, p, sign)

    def _add(self, s: list[float], p: SyncSample, sign: float) -> None:
        w = sign * self._weight(p.rtt)
        x = float(p.x - self._x0)
        y = float(p.y - self._y0)
        s[0] += w
        s[1] += w * x
        s[2] += w * y
        s[3] += w * x * x
        s[4] += w * x * y
        s[5] += w * y * y
        s[6] += sign * w * w
        s[7] += sign

    def _full_sums(self) -> None:
        newest = self._samples[-1]
        self._x0, self._y0 = newest.x, newest.y
        self._wref = self._rtt_min
        self._since_full = 0
        # Even the fastest exchanges scatter by about the excess round trip of the fastest few
        # percent: a path with a sharp floor gets sharp weights, a path without one does not.
        rtts = sorted(p.rtt for p in self._samples)
        q = rtts[min(len(rtts) - 1, max(2, int(len(rtts) * self.WEIGHT_QUANTILE)))] - self._wref
        self._wfloor = self.FLOOR_US + q / self.WEIGHT_DIV
        self._cut = 1 << 62
        if len(rtts) >= self.FILTER_MIN:
            self._cut = rtts[max(self.FILTER_MIN // 2, int(len(rtts) * self.FILTER_QUANTILE))]
        self._sums = [0.0] * 8
        self._fsums = [0.0] * 8
        for p in self._samples:
            self._accumulate(p, 1.0)

    def _refit(self) -> None:
        full = self._solve(self._sums)
        self._fit = full
        if self._cut < 1 << 62 and self._fsums[7] >= 3:
            self._fit = filtered = self._solve(self._fsums)
            x = self._samples[-1].x
            y_min, err_min = self._predict(x)
            self._fit = full
            y_all, err_all = self._predict(x)
            gap = abs(y_all - y_min)
            # the full fit only where the fastest exchanges confirm it, and it is the tighter
            self._fit = filtered
            if gap <= err_min and err_all + gap < err_min:
                self._fit = replace(full, agree_us=gap)
        n = len(self._samples)
        self._trusted = (
            n >= self.MIN_SAMPLES
            and self._fit_err(self._predict(self._samples[-1].x)[1]) <= self.TRUST_ERR_US
        )

    def _solve(self, sums: list[float]) -> _Fit:
        newest = self._samples[-1]
        w_sum, wx, wy, wxx, wxy, wyy, ww, used = sums
        n = round(used)  # samples in the fit (the min filter leaves the slow ones out)
        # effective number of samples: a few heavy weights are a few samples, whatever n says
        n_eff = min(float(n), w_sum * w_sum / ww) if ww > 0 else 1.0
        xm = wx / w_sum
        ym = wy / w_sum
        sxx = max(wxx - wx * xm, 0.0)
        sxy = wxy - wx * ym
        syy = max(wyy - wy * ym, 0.0)
        span = newest.x - self._samples[0].x
        lim = self.UNTRUSTED_PPM * 1e-6
        if n >= 3 and sxx > 0 and span >= 1000:
            b = sxy / sxx
            # Residual scale from the data itself (the sigmas above only set relative weights).
            s2 = max((syy - b * sxy) / (n - 2), 1e-6)
        else:
            b = 0.0
            s2 = 1.0  # too few to scale: weights taken at face value (the strict bound rules here)
        var_a = s2 / w_sum
        var_b = s2 / sxx if sxx > 0 else lim * lim
        if self._skew_prior is not None:
            # Same crystal as before the reboot: combine the window's skew with the old one.
            var_p = (self.PRIOR_PPM * 1e-6) ** 2
            if var_b >= lim * lim or not sxx > 0:
                b, var_b = self._skew_prior, var_p
            else:
                prec = 1.0 / var_b + 1.0 / var_p
                b = (b / var_b + self._skew_prior / var_p) / prec
                var_b = 1.0 / prec
            # the offset at the weighted mean still follows from the samples along that skew
        if abs(b) > lim:  # the window is lying (tails); claim no skew knowledge at all
            b = 0.0
            var_b = max(var_b, lim * lim)
        var_b = min(var_b, lim * lim)
        # Student-t on the effective count: a fit resting on a few sharp exchanges is a small sample
        tq = _t_quantile(self.Z, max(round(n_eff) - 2, 1)) if n >= 3 else float("inf")
        asym = self.asymmetry_share() * self._rtt_min / 2
        best = self._best
        assert best is not None
        return _Fit(self._x0, self._y0, ym, b, xm, var_a, var_b, asym, newest.x, tq, best.x, best.y, best.rtt)

    # ---- output ------------------------------------------------------------------------------

    def _predict(self, podium_us: int) -> tuple[float, float]:
        """(offset host - podium; error half-width) at ``podium_us``."""
        f = self._fit
        if f is None:
            return 0.0, float(UNKNOWN_ERR_US)
        dx = float(podium_us - f.x_ref) - f.x_mean
        y = f.y_ref + f.a + f.b * dx
        # Strict bound around the fastest exchange: a one-way delay is never negative, so its
        # offset is within half its round trip; away from it, the skew error accumulates.
        if self._skew_prior is None:
            drift = self.UNTRUSTED_PPM * 1e-6 + abs(f.b)
        else:
            drift = self.Z * self.PRIOR_PPM * 1e-6
        strict_y = f.y_best + f.b * (podium_us - f.x_best)
        strict = f.rtt_best / 2 + self.FLOOR_US + drift * abs(podium_us - f.x_best)
        if len(self._samples) < self.MIN_SAMPLES:
            return strict_y, strict
        since = abs(podium_us - f.x_newest)
        se = math.sqrt(f.var_a + dx * dx * f.var_b)
        err = f.asym_us + f.tq * se + self.FLOOR_US + self.WANDER_PPM * 1e-6 * since + f.agree_us
        if strict < err:
            return strict_y, strict
        return y, err

    def asymmetry_share(self) -> float:
        """The share of half the minimum round trip allowed for asymmetry on this path."""
        if self.asymmetry is not None:
            return self.asymmetry
        lo, hi = self.SLOW_RTT_US
        x = min(max((self._rtt_min - lo) / (hi - lo), 0.0), 1.0)
        return self.ASYMMETRY + x * (self.ASYMMETRY_SLOW - self.ASYMMETRY)

    def map(self, podium_us: int) -> Mapping:
        """Podium time → host time with a half-width error bound; never raises on garbage."""
        if not _is_int(podium_us) or self._fit is None:
            return Mapping(
                host_us=podium_us if _is_int(podium_us) else 0, err_us=UNKNOWN_ERR_US, trusted=False
            )
        y, err = self._predict(podium_us)
        err_us = min(UNKNOWN_ERR_US, math.ceil(err))
        return Mapping(
            host_us=podium_us + round(y),
            err_us=err_us,
            trusted=len(self._samples) >= self.MIN_SAMPLES and self._fit_err(err_us) <= self.TRUST_ERR_US,
        )

    def _fit_err(self, err: float) -> float:
        """The part of a bound the estimate answers for: trust is about the fit, so the asymmetry
        allowance (an assumption about the path, the same whatever the samples) is left out."""
        f = self._fit
        return err - (f.asym_us if f is not None else 0.0)

    @property
    def samples(self) -> int:
        return len(self._samples)

    @property
    def trusted(self) -> bool:
        """Enough exchanges for a statistical bound, and that bound within ``TRUST_ERR_US``."""
        return self._trusted

    @property
    def skew_known(self) -> float | None:
        """The fitted skew if the window pins it down (a reboot's prior), else None."""
        f = self._fit
        if f is None or not self._trusted or f.var_b > (self.PRIOR_PPM * 1e-6) ** 2:
            return None
        return f.b

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
    def prior_ppm(self) -> float | None:
        """Skew carried over from an earlier boot of the same crystal (ppm), if any."""
        return None if self._skew_prior is None else self._skew_prior * 1e6

    @property
    def skew_ppm(self) -> float:
        return 0.0 if self._fit is None else self._fit.b * 1e6

    @property
    def min_rtt_us(self) -> int | None:
        return None if self._best is None else self._best.rtt


class ClockBook:
    """Clock models keyed by podium id, restarted when a podium reboots or its time runs backwards."""

    # Messages on different topics (sync vs up) interleave, so a timestamp may legitimately be a
    # little older than the newest seen; a restarted clock jumps back by its whole uptime.
    BACKWARDS_TOLERANCE_US = 5_000_000

    def __init__(self, asymmetry: float | None = None) -> None:
        """``asymmetry``: the share of half the minimum round trip allowed for path asymmetry, as
        the venue states it; None: by each path's speed (``ClockModel.asymmetry_share``)."""
        if asymmetry is not None and not 0 <= asymmetry <= 1:
            raise ValueError("asymmetry must be within 0..1")
        self.asymmetry = asymmetry
        self._models: dict[str, ClockModel] = {}
        self._boots: dict[str, int] = {}
        self._last: dict[str, int] = {}
        self.resets = 0

    def model(self, podium: str, boot: int) -> ClockModel:
        """The model for this podium's current boot; a new boot nonce gives a fresh model."""
        m = self._models.get(podium)
        if m is None or self._boots.get(podium) != boot:
            prior: float | None = None
            if m is not None:
                self.resets += 1
                # a reboot restarts the count, not the crystal: keep its skew as a prior
                m.restart()
                prior = m.prior_ppm
            m = ClockModel(None if prior is None else prior * 1e-6, self.asymmetry)
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
            m.restart()
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


# ---- carrying a model across a host restart -------------------------------------------------------
# A restarted host on the same machine reads the same monotonic clock, so the exchanges its last
# run fitted still hold: kept (io.clockstore) and restored, they give trusted bounds at once
# instead of after a new burst and seconds of exchanges.


def export_model(m: ClockModel) -> dict[str, object]:
    """What rebuilds the model: its window of exchanges and what it learned before them."""
    return {
        "samples": [[s.x, s.y, s.rtt] for s in m._samples],
        "last_t1": m._last_t1,
        "skew_prior": m._skew_prior,
    }


def restore_model(data: dict[str, object], asymmetry: float | None = None) -> ClockModel | None:
    """The model ``export_model`` described, or None when the data is not one."""
    samples = data.get("samples")
    last_t1 = data.get("last_t1")
    prior = data.get("skew_prior")
    if not isinstance(samples, list) or not samples or not isinstance(last_t1, int):
        return None
    if prior is not None and not isinstance(prior, float | int):
        return None
    m = ClockModel(None if prior is None else float(prior), asymmetry)
    for s in samples:
        if not (isinstance(s, list) and len(s) == 3 and all(_is_int(v) for v in s) and s[2] >= 0):
            return None
        m._samples.append(SyncSample(s[0], s[1], s[2]))
    m._best = min(m._samples, key=lambda p: p.rtt)
    m._rtt_min = m._best.rtt
    m._last_t1 = last_t1
    m._full_sums()
    m._refit()
    return m


def export_book(book: ClockBook) -> dict[str, dict[str, object]]:
    """Every podium's current model, with the boot it belongs to."""
    return {
        pid: {"boot": book._boots[pid], **export_model(m)}
        for pid, m in book._models.items()
        if pid in book._boots and m.samples
    }


def restore_book(book: ClockBook, data: dict[str, object]) -> list[str]:
    """Put the exported models back into an empty book; returns the podiums restored."""
    out = []
    for pid, item in data.items():
        if not isinstance(item, dict) or not _is_int(item.get("boot")):
            continue
        m = restore_model(item, book.asymmetry)
        if m is not None:
            book._models[pid] = m
            book._boots[pid] = item["boot"]
            out.append(pid)
    return out
