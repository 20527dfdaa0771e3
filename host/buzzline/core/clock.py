"""Per-podium clock model: maps podium time onto the host clock with an error bound.

Fed NTP-style four-timestamp exchanges (protocol v1 ``sync``/``syncr``); pure and deterministic.
(Over 400 lines: the model, its book and the capture bound's helpers, with the snapshot a
restarted host restores; the one-way minima and the skew's envelope live in ``core.oneway``.)
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import NamedTuple

from buzzline.core.oneway import DirectionMinima, SyncSample, envelope_skew, t_quantile
from buzzline.core.types import Mapping

__all__ = [
    "CAPTURE_DEFAULT_US",
    "CAPTURE_UNKNOWN_US",
    "UNKNOWN_ERR_US",
    "ClockBook",
    "ClockModel",
    "SyncSample",
    "capture_bound_us",
    "with_capture",
]

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
class _Fit:
    """The skew part of the model (the offset comes from the one-way minima, ``DirectionMinima``)."""

    b: float  # skew (dimensionless, µs per µs)
    var_b: float
    tq: float  # Student-t multiple for the skew's bound (few samples: wider)
    prior: bool = False  # ``b`` rests on a reboot's prior too, so the prior's bound holds for it


class _Bound(NamedTuple):
    """The offset at one podium instant and what the bound rests on."""

    offset: float  # host - podium
    half: float  # error half-width (µs), stamping floor included
    allowance: float  # the floors' unobservable difference within ``half`` (an assumption)
    sound: bool  # False: the evidence contradicted itself; ``half`` is the no-skew-knowledge one


def _is_int(v: object) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


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
    """Offset and skew of one podium clock, with a bound that follows from the window's evidence.

    Skew: from each direction's lower envelope over the window (``envelope_skew``: the lowest
    exchanges of each stretch of time lie on a line whose slope is the skew; queueing above it
    says nothing about the clocks).
    Offset: with that skew, each exchange gives the uplink's delay plus the offset and the
    downlink's delay minus it; the two minima over the window (``DirectionMinima``) give the
    offset even where no exchange was fast both ways. ``map(podium_us)`` returns host time with a
    half-width error bound: the interval no negative delay can leave ([-min down, min up]),
    narrowed by how far each minimum may sit above its floor (from the spacing of the lowest few
    exchanges of that direction) and the floors' unseen difference (the venue's share of half the
    floors' round trip), every sample widened by the skew's uncertainty and wander over its
    distance from the mapped instant, + a timestamping floor. A mapping is ``trusted`` when it
    rests on at least ``MIN_SAMPLES`` exchanges and its bound, less the floors' allowance, is
    within ``TRUST_ERR_US``. A reboot restarts the podium's count but not its crystal or its
    path: ``ClockBook`` hands the new model the old skew as a prior and the old window's lower
    limit on the floors' sum (the path's round-trip floor), unless the board changed; with that
    limit a few exchanges pin the offset (``MIN_SAMPLES_PATH``), and a round trip faster than it
    (the path is not the one it was) drops it.
    Statements that contradict each other (an empty interval: one of them is false) give no
    tight bound: the model refits (and drops the last boot's floor), and until the evidence
    agrees again a mapping gets the interval no negative delay can leave with no skew knowledge
    at all, untrusted.
    """

    WINDOW = 512  # samples kept (newest): two minutes at the recommended 4 exchanges/s
    WINDOW_US = 180_000_000  # and no older than this (skew wanders): a slow podium keeps 3 min
    MIN_SAMPLES = 8  # trust needs this many (the boot burst)
    MIN_SAMPLES_PATH = 4  # or this many with the path's floor known from the last boot
    PATH_PRIOR_US = 600_000_000  # a last boot's path floor older than this (host time) is not used
    TRUST_ERR_US = 2_000  # trusted: enough samples, and the bound less the allowance is <= 2 ms
    Z = 3.5  # standard errors of the skew (Student-t for few samples)
    # Share of half the floors' round trip assumed as their unobservable difference, unless the
    # venue states it: ASYMMETRY on a healthy path, rising to ASYMMETRY_SLOW as the best round
    # trip goes from SLOW_RTT_US[0] to [1]. A path that slow is airtime-bound (a crowded channel,
    # low radio rates), where the up and down rates, and so the floors, differ most.
    ASYMMETRY = 0.1
    ASYMMETRY_SLOW = 0.2
    SLOW_RTT_US = (6_000, 8_000)
    FLOOR_US = 30  # podium capture and host stamping jitter
    REFIT_EVERY = 32  # refit the skew (and pick the minima again) at least this often
    MIN_SPAN_US = 1_000  # a window shorter than this says nothing about the skew
    WANDER_PPM = 0.5  # skew may drift this much away from the fit between samples
    UNTRUSTED_PPM = 100  # worst crystal skew
    STALE_AFTER = 3  # refits in a row that contradict a reboot's prior: it is stale, dropped
    PRIOR_PPM = 2.0  # a rebooted podium keeps its crystal: its old skew holds within this (1 sigma)
    MAX_RTT_US = 2_000_000
    OUTLIER_FACTOR = 4  # round trip above FACTOR * min + MARGIN is a congested outlier
    OUTLIER_MARGIN_US = 20_000
    READMIT_AFTER = 8  # this many consecutive disagreeing samples: the clock stepped, start over
    # Congested exchanges for this long (podium µs), and at least SLOW_READMIT_AFTER of them, with
    # no good one between: a new, slower path. By time, not count: a link that holds messages
    # (a radio deaf for a second or two) at 16 exchanges a second sends 120 congested in a row
    # within 8 s, and each such restart left a podium untrusted for seconds.
    SLOW_READMIT_US = 30_000_000
    SLOW_READMIT_AFTER = 8

    def __init__(
        self,
        skew_prior: float | None = None,
        asymmetry: float | None = None,
        floor_prior: tuple[float, int] | None = None,
    ) -> None:
        self._skew_prior = skew_prior  # dimensionless skew from an earlier boot of this podium
        # (lower limit on the floors' sum in µs, host µs when it held) from an earlier boot
        self._floor_prior = floor_prior
        # the venue's allowance for unequal floors no timestamp can see (None: by the path)
        self.asymmetry = asymmetry
        self.reset()

    # ---- input -------------------------------------------------------------------------------

    def reset(self) -> None:
        self._samples: deque[SyncSample] = deque()
        self._fit: _Fit | None = None
        self._minima = DirectionMinima()
        self._last_t1: int | None = None
        self._rejects = 0
        self._slow = 0
        self._slow_since = 0  # podium x of the streak's first congested exchange
        self._rtt_min = 0
        self._since_fit = 0
        self._newest_bound = (0, 0.0, float(UNKNOWN_ERR_US))  # (x, offset, bound) at the newest
        self.contradictions = 0  # exchanges whose bound came out empty (each forced a refit)
        self.stale_priors = 0  # reboot priors the window's own fit proved wrong (and dropped)
        self._prior_doubts = 0  # refits in a row whose fit contradicted the prior
        self._best: SyncSample | None = None
        self._trusted = False
        self._mapped: tuple[int, Mapping] | None = None  # the last map(): a press is mapped twice

    def restart(self) -> None:
        """Forget the samples (the clock restarted) but keep the crystal's skew and the path's
        round-trip floor as priors."""
        prior = self.skew_known
        if prior is None:
            prior = self._skew_prior
        floor = self.path_floor()
        if floor is None:
            floor = self._floor_prior
        self.reset()
        self._skew_prior = prior
        self._floor_prior = floor

    def path_floor(self) -> tuple[float, int] | None:
        """(the window's lower limit on the floors' sum in µs, host µs of the newest exchange);
        None without one (too few exchanges for any excess bound)."""
        f = self._fit
        if f is None or not self._samples:
            return None
        newest = self._samples[-1]
        floors = self._minima.floors(newest.x, f.b, self._drift())
        if floors is None or not math.isfinite(floors[0]):
            return None
        if self._floor_prior is not None:  # what this window adds to the prior it started from
            return max(floors[0], self._floor_prior[0]), newest.x + newest.y
        return floors[0], newest.x + newest.y

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
        if self._floor_prior is not None and t2 - self._floor_prior[1] > self.PATH_PRIOR_US:
            self._floor_prior = None  # the last boot is too long ago to speak for this path
        # Midpoints; keep the half-microsecond by flooring (both sides consistently).
        x = (t1 + t4) // 2
        y = (t2 + t3) // 2 - x
        sample = SyncSample(x, y, rtt, t2 - t1, t4 - t3)
        if self._samples and rtt > self.OUTLIER_FACTOR * self._rtt_min + self.OUTLIER_MARGIN_US:
            # Congested: imprecise, not wrong. A burst of them (seconds) must not wipe the model;
            # only a path that stays this slow for SLOW_READMIT_US is a new path.
            if self._slow == 0:
                self._slow_since = x
            self._slow += 1
            if self._slow < self.SLOW_READMIT_AFTER or x - self._slow_since < self.SLOW_READMIT_US:
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
        self._mapped = None
        self._last_t1 = t1
        samples = self._samples
        samples.append(sample)
        lost_best = False
        while len(samples) > self.WINDOW or x - samples[0].x > self.WINDOW_US:
            old = samples.popleft()
            lost_best = lost_best or old is self._best
            self._minima.drop(old)
        if self._best is None or rtt < self._best.rtt:
            self._best = sample
        elif lost_best:  # the fastest exchange left the window
            self._best = min(samples, key=lambda p: p.rtt)
        self._rtt_min = self._best.rtt
        self._since_fit += 1
        if len(samples) <= 2 * self.REFIT_EVERY or self._since_fit >= self.REFIT_EVERY:
            self._refit()
        elif self._fit is not None:  # a candidate that left the window is replaced at the next refit
            self._minima.add(sample, self._fit.b)
        self._settle(sample.x)
        return True

    def _settle(self, newest_x: int) -> None:
        """The bound at the newest exchange (the disagreement check's reference) and trust. An
        empty interval there means the fit no longer describes the window: refit at once."""
        if self._floor_prior is not None and self._fit is not None:
            floors = self._minima.floors(newest_x, self._fit.b, self._drift())
            if floors is not None and floors[1] < self._floor_prior[0]:
                # a round trip faster than the last boot's floor: not the same path, or that
                # floor was wrong; the window's own evidence only from here
                self._floor_prior = None
        bound = self._predict_bound(newest_x)
        if not bound.sound:
            self.contradictions += 1
            self._floor_prior = None  # of the statements, the last boot's floor goes first
            if self._since_fit:
                self._refit()
                bound = self._predict_bound(newest_x)
        self._newest_bound = (newest_x, bound.offset, bound.half)
        self._trusted = self._trust(bound)

    def _disagrees(self, s: SyncSample) -> bool:
        if self._fit is None or len(self._samples) < self.MIN_SAMPLES:
            return False
        # A sample's true offset lies within rtt/2 of its measurement: disagreeing beyond that
        # (plus our own bound, carried from the newest sample) means a garbage timestamp or a
        # clock step.
        x, y, e = self._newest_bound
        f = self._fit
        pred = y + f.b * (s.x - x)
        err = e + self._drift() * abs(s.x - x)
        return abs(s.y - pred) > s.rtt / 2 + err + self.OUTLIER_MARGIN_US

    def _refit(self) -> None:
        """Fit the skew on the window, then pick each direction's lowest exchanges along it."""
        self._since_fit = 0
        window = list(self._samples)
        guess = self._fit.b if self._fit is not None else (self._skew_prior or 0.0)
        self._fit = self._skew_fit(window, guess)
        self._minima.rebuild(window, self._fit.b)

    def _skew_fit(self, window: list[SyncSample], guess: float) -> _Fit:
        lim = self.UNTRUSTED_PPM * 1e-6
        env = envelope_skew(window, guess) if window[-1].x - window[0].x >= self.MIN_SPAN_US else None
        if env is None:
            b, var_b, dof = 0.0, lim * lim, 0
        else:
            b, var_b, dof = env
        # Student-t on the envelope's degrees of freedom: a short envelope is a small sample
        tq = t_quantile(self.Z, dof) if dof >= 1 else float("inf")
        spread = tq * math.sqrt(var_b)
        if abs(b) > lim and (spread >= lim or abs(b) - spread > lim):
            # Past the worst crystal, and either too vague to say more than "some crystal" or
            # beyond any crystal even at its error: the window is lying (tails); it tells nothing
            # about the skew. A precise fit just past the limit, within its own error, is a
            # crystal at its limit, and is kept: wifi-bad's wander takes skews there, and
            # reading such a fit as "no skew" under a reboot's 7 ppm prior made a 30 µs bound
            # 5-9 ms off (issue 22, docs/timing.md).
            b, var_b, tq = 0.0, lim * lim, float("inf")
        if self._skew_prior is not None and var_b < lim * lim:
            # The window's own fit and the prior disagree beyond both their bounds, at
            # STALE_AFTER refits in a row: the prior is stale (a crystal that wandered since it
            # was learned, passed on from boot to boot while no model of it was trusted). The
            # window's evidence only from here. In a row: a queue that moves from one direction
            # to the other tilts a fit for a while, and a right prior must outlast that.
            if abs(b - self._skew_prior) > tq * math.sqrt(var_b) + self.Z * self.PRIOR_PPM * 1e-6:
                self._prior_doubts += 1
                if self._prior_doubts >= self.STALE_AFTER:
                    self._skew_prior = None
                    self.stale_priors += 1
            else:
                self._prior_doubts = 0
        prior = self._skew_prior is not None
        if self._skew_prior is not None:
            # Same crystal as before the reboot: combine the window's skew with the old one.
            var_p = (self.PRIOR_PPM * 1e-6) ** 2
            if var_b >= lim * lim:
                b, var_b = self._skew_prior, var_p
            else:
                prec = 1.0 / var_b + 1.0 / var_p
                b = (b / var_b + self._skew_prior / var_p) / prec
                var_b = 1.0 / prec
        return _Fit(b, min(var_b, lim * lim), tq, prior)

    # ---- output ------------------------------------------------------------------------------

    def _drift(self) -> float:
        assert self._fit is not None
        return self._drift_of(self._fit)

    def _drift_of(self, f: _Fit) -> float:
        """How far (per µs) the skew may be off: its bound from the fit, plus wander."""
        worst = self._worst_drift(f)
        if f.prior:
            worst = min(worst, self.Z * self.PRIOR_PPM * 1e-6)
        if math.isfinite(f.tq):
            worst = min(worst, f.tq * math.sqrt(f.var_b))
        return worst + self.WANDER_PPM * 1e-6

    def _worst_drift(self, f: _Fit) -> float:
        """The skew's error if nothing is known of it but the worst crystal (per µs)."""
        return self.UNTRUSTED_PPM * 1e-6 + abs(f.b)

    def _predict_bound(self, podium_us: int) -> _Bound:
        """The offset at ``podium_us`` and its bound (``_Bound``)."""
        f = self._fit
        unknown = _Bound(0.0, float(UNKNOWN_ERR_US), 0.0, True)
        if f is None:
            return unknown
        floor_lo = None if self._floor_prior is None else self._floor_prior[0]
        ob = self._minima.bound(podium_us, f.b, self._drift(), self.asymmetry_share(), floor_lo=floor_lo)
        if ob is None:
            return unknown
        if ob.empty:
            # The statements the bound rests on contradict each other, so at least one is false
            # and no part of the interval can be trusted: keep only what needs no statement but
            # the worst crystal (no negative delay, the skew anywhere a crystal can be).
            ob = self._minima.bound(podium_us, f.b, self._worst_drift(f) + self.WANDER_PPM * 1e-6, 0.0, True)
            if ob is None or ob.empty:
                return _Bound(0.0, float(UNKNOWN_ERR_US), 0.0, False)
            return _Bound(ob.offset, ob.half + self.FLOOR_US, 0.0, False)
        return _Bound(ob.offset, ob.half + self.FLOOR_US, ob.allowance, True)

    def _predict(self, podium_us: int) -> tuple[float, float]:
        """(offset host - podium; error half-width) at ``podium_us``."""
        b = self._predict_bound(podium_us)
        return b.offset, b.half

    def _trust(self, bound: _Bound) -> bool:
        """Trust is about the evidence: the floors' allowance (an assumption about the path, the
        same whatever the samples say) is left out; evidence that contradicts itself earns none."""
        need = self.MIN_SAMPLES if self._floor_prior is None else self.MIN_SAMPLES_PATH
        return (
            bound.sound and len(self._samples) >= need and bound.half - bound.allowance <= self.TRUST_ERR_US
        )

    def asymmetry_share(self) -> float:
        """The share of half the floors' round trip allowed for their difference on this path."""
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
        last = self._mapped
        if last is not None and last[0] == podium_us:
            return last[1]
        bound = self._predict_bound(podium_us)
        err_us = min(UNKNOWN_ERR_US, math.ceil(bound.half))
        mapping = Mapping(host_us=podium_us + round(bound.offset), err_us=err_us, trusted=self._trust(bound))
        self._mapped = (podium_us, mapping)
        return mapping

    @property
    def samples(self) -> int:
        return len(self._samples)

    @property
    def trusted(self) -> bool:
        """Enough exchanges, and the bound at the newest (less the allowance) within ``TRUST_ERR_US``."""
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
        return self.map(self._samples[-1].x).err_us

    @property
    def offset_us(self) -> int:
        """host - podium at the newest sample (0 before any sample)."""
        if self._fit is None:
            return 0
        offset: float = self._predict(self._samples[-1].x)[0]
        return round(offset)

    @property
    def prior_ppm(self) -> float | None:
        """Skew carried over from an earlier boot of the same crystal (ppm), if any."""
        return None if self._skew_prior is None else self._skew_prior * 1e6

    @property
    def floor_prior_us(self) -> float | None:
        """The last boot's lower limit on the path's round-trip floor (µs), while it is used."""
        return None if self._floor_prior is None else self._floor_prior[0]

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
        self._hw: dict[str, str] = {}  # the board each podium last announced
        self.resets = 0

    def model(self, podium: str, boot: int) -> ClockModel:
        """The model for this podium's current boot; a new boot nonce gives a fresh model."""
        m = self._models.get(podium)
        if m is None or self._boots.get(podium) != boot:
            prior: float | None = None
            floor: tuple[float, int] | None = None
            if m is not None:
                self.resets += 1
                # a reboot restarts the count, not the crystal or the path: keep the skew and
                # the round-trip floor as priors
                m.restart()
                prior = m.prior_ppm
                floor = m._floor_prior
            m = ClockModel(None if prior is None else prior * 1e-6, self.asymmetry, floor)
            self._models[podium] = m
            self._boots[podium] = boot
            self._last.pop(podium, None)
        return m

    def note_board(self, podium: str, hw: str) -> bool:
        """Record the board a podium announces (``hello.hw``); True if it changed. A new board
        is a new crystal (SPEC §4.2): nothing of the old model carries over, not even its skew
        as a prior, so the new one starts from the boot burst like any first boot."""
        old = self._hw.get(podium)
        self._hw[podium] = hw
        if old is None or old == hw:
            return False
        if podium in self._models:
            self.resets += 1
        self._models.pop(podium, None)
        self._boots.pop(podium, None)
        self._last.pop(podium, None)
        return True

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
        self._hw.pop(podium, None)
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
        "samples": [[s.x, s.y, s.rtt, s.up, s.down] for s in m._samples],
        "last_t1": m._last_t1,
        "skew_prior": m._skew_prior,
        "floor_prior": None if m._floor_prior is None else list(m._floor_prior),
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
    fp = data.get("floor_prior")
    floor: tuple[float, int] | None = None
    if isinstance(fp, list) and len(fp) == 2 and isinstance(fp[0], float | int) and _is_int(fp[1]):
        floor = (float(fp[0]), fp[1])
    m = ClockModel(None if prior is None else float(prior), asymmetry, floor)
    for s in samples:
        # each direction's delay too (the one-way minima): a snapshot without them is not one
        if not (isinstance(s, list) and len(s) == 5 and all(_is_int(v) for v in s) and s[2] >= 0):
            return None
        m._samples.append(SyncSample(s[0], s[1], s[2], s[3], s[4]))
    m._best = min(m._samples, key=lambda p: p.rtt)
    m._rtt_min = m._best.rtt
    m._last_t1 = last_t1
    m._refit()
    m._settle(m._samples[-1].x)
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
