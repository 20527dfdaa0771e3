"""One-way delay minima: a podium's clock offset from each direction's lowest delay on its own,
and a bound on it built from what the window shows (pure; fed and asked by ``ClockModel``).

With the skew known, an exchange gives two observations, not one: up = t2 - t1 is the offset
plus the uplink delay, down = t4 - t3 is the downlink delay minus the offset. Each direction's
minimum over the window is reached on its own (an exchange that met an idle uplink need not
have met an idle downlink), so the offset follows from the two minima even on a path where no
exchange was fast both ways. What no timestamp can show is how far each minimum sits above its
direction's floor, and how far the floors differ: the first is bounded from the spacing of the
lowest samples (a direction whose lowest delays crowd together has reached its floor; one whose
lowest delays are sparse may be far above it), the second is the venue's allowance.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SyncSample:
    """One exchange: podium midpoint ``x`` (podium µs), offset ``y`` = host - podium at the
    midpoint, round trip, and per direction ``up`` = t2 - t1 and ``down`` = t4 - t3."""

    x: int
    y: int
    rtt: int
    up: int = 0
    down: int = 0


@dataclass(frozen=True, slots=True)
class OffsetBound:
    """The offset (host - podium) at one podium instant and the interval it lies in."""

    offset: float  # centre of the interval
    half: float  # half-width (excludes the floors' allowance, which is ``allowance``)
    allowance: float  # the floors' unobservable difference, as assumed (part of ``half``)
    strict: bool  # True: only the assumption-free interval (no delay is negative) was used
    # True: the statements contradict each other (the interval came out empty or inverted), so
    # one of them is false (a skew off by more than its drift allows, a minimum further above
    # its floor than bounded): ``offset`` and ``half`` then mean nothing
    empty: bool = False


# The lowest delays of a direction, above its floor, are assumed to rise no faster than
# t^TAIL_ALPHA: uniform backoff jitter is alpha 1, a queue that is sometimes empty has an atom at
# the floor (sharper still). A lognormal queue that never drains is steeper near its window
# minimum; drawn 4,000 times (400 samples), the minimum escaped its bound (excess_bound, ranks
# 8/16/32) in 0.38% of windows at sigma 0.5, 0.12% at 0.6, none at 0.8 (k 32 alone: 0.47%, 0%,
# 0%; alpha 3 and k 16: 4% and 1.1% at 0.5 and 0.6).
TAIL_ALPHA = 4.0
MISS_P = 0.001  # chance that a direction's minimum sits further above its floor than bounded
# The k-th lowest sample sets the spacing. Which k fits depends on the direction: one that idles
# 5% of the time has ~25 floor-near exchanges in a window, so its 32nd lowest is a queued one
# and the spacing is milliseconds, while its 8th or 16th still crowd at the floor. Each of these
# is tested (the n held, when fewer) and the tightest kept; the miss chance is split between
# the tests made (a union bound), so every test is at MISS_P / (tests).
SPACING_KS = (8, 16, 32)
SPACING_K = SPACING_KS[-1]


def excess_factor(k: int, alpha: float = TAIL_ALPHA, p: float = MISS_P) -> float:
    """C with P(min - floor > C * (k-th lowest - min)) <= p, for k samples whose distribution
    above the floor starts as t^alpha (order statistics: the lowest is E1, the k-th E1 + G(k-1),
    scaled by ^(1/alpha), and P(G(k-1) < s * E1) = (s/(1+s))^(k-1)). Infinite below k = 2."""
    if k < 2:
        return math.inf
    pi = p ** (1.0 / (k - 1))
    s = pi / (1.0 - pi)
    return 1.0 / (float((1.0 + s) ** (1.0 / alpha)) - 1.0)


def spacing_ks(n: int) -> tuple[int, ...]:
    """The ranks whose spacing is tested when a direction holds ``n`` candidates."""
    return tuple(sorted({min(k, n) for k in SPACING_KS if n >= 2}))


# _FACTORS[n][k]: the factor for rank k when n candidates are held (p split over spacing_ks(n))
_FACTORS = [
    {k: excess_factor(k, p=MISS_P / len(spacing_ks(n))) for k in spacing_ks(n)} for n in range(SPACING_K + 1)
]


def excess_bound(ranked: list[float]) -> float:
    """How far the lowest of ``ranked`` (ascending delays of one direction) may sit above the
    direction's floor: the tightest of C(k) * (k-th lowest - lowest) over the ranks tested."""
    n = min(len(ranked), SPACING_K)
    if n < 2:
        return math.inf
    v0 = ranked[0]
    return min(c * (ranked[k - 1] - v0) for k, c in _FACTORS[n].items())


def t_quantile(z: float, dof: int) -> float:
    """Student-t quantile matching normal quantile ``z`` (Cornish-Fisher): few samples, wider bound."""
    nu = float(dof)
    return (
        z
        + (z**3 + z) / (4 * nu)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * nu**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * nu**3)
    )


class _Side:
    """One direction's candidates prepared for a skew and drift, so that a mapping costs O(1).

    Along slope ``k`` a candidate's delay moved to podium instant ``x`` is ``w + k*x`` with
    ``w = delay - k*sx``: their order does not depend on ``x``, so the lowest and the spacing
    are computed once per change of the candidates or the fit, not per press."""

    __slots__ = ("after", "drift", "excess", "k", "last_sx", "ranked", "sx0", "w0")

    def __init__(self, side: list[tuple[int, int]], k: float, drift: float) -> None:
        self.k = k
        self.drift = drift
        # (w, -sx): ties (a skew of exactly 0 before any fit) put the newest first, nearest a
        # later press
        ranked = sorted([(v - k * sx, -sx) for sx, v in side])
        self.ranked = ranked
        self.w0, neg = ranked[0]
        self.sx0 = -neg
        self.excess = excess_bound([w for w, _ in ranked[:SPACING_K]])
        self.last_sx = -min(nsx for _, nsx in ranked)
        # for x at or after every candidate (a press after the newest exchange: the usual case)
        # min(w + drift * (x - sx)) = after + drift * x
        self.after = min(w + drift * nsx for w, nsx in ranked)

    def limits(self, x: int) -> tuple[float, float]:
        """(low, high) limits on the direction's offset-plus-floor at ``x``: any sample caps it
        from above; the lowest one, less how far it may sit above the floor (the spacing of the
        lowest few), bounds it from below (-inf: no evidence yet). Each sample is widened by the
        skew's possible error over its distance from ``x``."""
        kx = self.k * x
        d = self.drift
        hi = self.after + d * x if x >= self.last_sx else min(w + d * abs(-nsx - x) for w, nsx in self.ranked)
        lo = self.w0 - d * abs(self.sx0 - x) - self.excess
        return lo + kx, hi + kx


class DirectionMinima:
    """The lowest few exchanges of each direction, kept as the window changes, and the offset
    interval they give at any podium instant for a skew and its uncertainty."""

    KEEP = 40  # candidates per direction (more than SPACING_K: the skew moves between refits)

    def __init__(self) -> None:
        # (podium x, delay): up = t2 - t1 rises with the offset, down = t4 - t3 falls with it
        self._up: list[tuple[int, int]] = []
        self._down: list[tuple[int, int]] = []
        self._prepared: tuple[float, float, _Side, _Side] | None = None  # (skew, drift, up, down)

    def rebuild(self, window: list[SyncSample], skew: float) -> None:
        """Pick the candidates again from the whole window (the skew estimate moved)."""
        self._prepared = None
        x0 = window[-1].x if window else 0
        for sign, side in ((1, self._up), (-1, self._down)):
            k = sign * skew
            pairs = [(s.x, s.up if sign > 0 else s.down) for s in window]
            rel = [v - k * (x - x0) for x, v in pairs]
            side[:] = [pairs[i] for i in sorted(range(len(pairs)), key=rel.__getitem__)[: self.KEEP]]

    def add(self, s: SyncSample, skew: float) -> None:
        for side, new, k in ((self._up, (s.x, s.up), skew), (self._down, (s.x, s.down), -skew)):
            if len(side) < self.KEEP:
                side.append(new)
                self._prepared = None
                continue
            vals = [v - k * (x - s.x) for x, v in side]
            worst = max(range(len(vals)), key=vals.__getitem__)
            if new[1] < vals[worst]:
                side[worst] = new
                self._prepared = None  # a sample that is no candidate leaves the prepared sides as they are

    def drop(self, s: SyncSample) -> bool:
        """Forget a sample that left the window; True if it was a candidate (rebuild soon)."""
        hit = False
        for side, old in ((self._up, (s.x, s.up)), (self._down, (s.x, s.down))):
            if old in side:
                side.remove(old)
                hit = True
        if hit:
            self._prepared = None
        return hit

    def _limits(self, x: int, skew: float, drift: float) -> tuple[float, float, float, float] | None:
        """Per direction, limits on (offset + up floor) and (down floor - offset) at ``x``."""
        if not self._up or not self._down:
            return None
        p = self._prepared
        if p is None or p[0] != skew or p[1] != drift:
            p = self._prepared = (skew, drift, _Side(self._up, skew, drift), _Side(self._down, -skew, drift))
        return (*p[2].limits(x), *p[3].limits(x))

    def floors(self, x: int, skew: float, drift: float) -> tuple[float, float] | None:
        """(low, high) limits on the floors' sum (up floor + down floor: the path's round-trip
        floor, which no offset enters): the fastest round trip seen caps it, each direction's
        lowest less its excess bound floors it. None: no exchange yet."""
        lim = self._limits(x, skew, drift)
        if lim is None:
            return None
        up_lo, up_hi, dn_lo, dn_hi = lim
        return up_lo + dn_lo, up_hi + dn_hi

    def bound(
        self,
        x: int,
        skew: float,
        drift: float,
        share: float,
        strict: bool = False,
        floor_lo: float | None = None,
    ) -> OffsetBound | None:
        """Offset at podium instant ``x``: ``drift`` bounds the skew's error (per µs of distance
        from a sample), ``share`` of half the floors' round trip is allowed for unequal floors;
        ``strict``: the assumption-free interval alone. An interval that comes out empty is
        returned with ``empty`` set, never as a zero width. ``floor_lo``: a lower limit on the
        floors' sum known from elsewhere (the same path's last boot): each direction's minimum
        then sits at most (fastest round trip - floor_lo) above its floor, however few the
        exchanges (not with ``strict``: it is a statement about the path)."""
        lim = self._limits(x, skew, drift)
        if lim is None:
            return None
        up_lo, up_hi, dn_lo, dn_hi = lim
        if floor_lo is not None and not strict:
            # up floor + down floor >= floor_lo and (down floor - offset) <= dn_hi, so
            # (offset + up floor) >= floor_lo - dn_hi; the same the other way round
            up_lo = max(up_lo, floor_lo - dn_hi)
            dn_lo = max(dn_lo, floor_lo - up_hi)
        # no delay is negative: offset in [-dn_hi, up_hi], whatever the floors and queues
        lo, hi = -dn_hi, up_hi
        allowance = share * max(up_hi + dn_hi, 0.0) / 2
        if not strict and math.isfinite(up_lo) and math.isfinite(dn_lo):
            # offset = ((offset + up floor) - (down floor - offset))/2 - (up floor - down floor)/2
            lo = max(lo, (up_lo - dn_hi) / 2 - allowance)
            hi = min(hi, (up_hi - dn_lo) / 2 + allowance)
            return OffsetBound((lo + hi) / 2, max(hi - lo, 0.0) / 2, allowance, False, hi < lo)
        return OffsetBound((lo + hi) / 2, max(hi - lo, 0.0) / 2, 0.0, True, hi < lo)


ENVELOPE_SHARE = 0.1  # each direction's fit of the skew uses its lowest tenth (rebased on a guess)
ENVELOPE_MIN = 4  # fewer than this per direction: no slope from that direction
ENVELOPE_BINS = 8  # stretches of the window, each giving its own lowest exchanges
ENVELOPE_Z = 3.5  # the clock bound's standard errors (ClockModel.Z), to compare two fits
STEP_Z = 2.0  # a line and the stepwise median this many standard errors apart: a step (or more)
ENVELOPE_ROUNDS = 4
ENVELOPE_SETTLED_US = 20.0  # a new guess that tilts the window by less than this changes no pick


def envelope_skew(window: list[SyncSample], guess: float) -> tuple[float, float, int] | None:
    """The skew from each direction's lower envelope, refined from ``guess`` until the envelope
    it picks stops moving (a bad guess tilts the pick; a few rounds straighten it)."""
    fit = None
    span = float(window[-1].x - window[0].x) if window else 0.0
    for _ in range(ENVELOPE_ROUNDS):
        fit = _envelope_once(window, guess)
        if fit is None:
            return None
        moved = abs(fit[0] - guess) * span
        guess = fit[0]
        if moved < ENVELOPE_SETTLED_US:
            break
    if fit is None:
        return None
    # A queue that moved from one direction to the other mid-window (or any step in an
    # envelope) bends both envelopes alike, and a line through them takes the step for skew
    # while its residuals look small. The median of the slopes between successive stretches
    # ignores a step or two; where the two disagree beyond their noise, the difference joins the
    # skew's variance.
    step = _stepwise_skew(window, fit[0])
    if step is not None:
        med, var_med = step
        diff2 = (fit[0] - med) ** 2
        if diff2 > STEP_Z**2 * (fit[1] + var_med):
            fit = (fit[0], fit[1] + diff2, fit[2])
    return fit


def _stepwise_skew(window: list[SyncSample], skew: float) -> tuple[float, float] | None:
    """The median slope between successive stretches' lowest exchanges, both directions, and
    its variance (from the slopes' spread: 1.4826 MAD per slope, pi/2 for a median)."""
    bins = max(1, min(ENVELOPE_BINS, len(window) // ENVELOPE_MIN))
    if bins < 3:
        return None
    edges = [len(window) * i // bins for i in range(bins + 1)]
    x0 = window[-1].x
    slopes = []
    for sign in (-1.0, 1.0):
        k = skew if sign < 0 else -skew
        pts = []
        for a, b_ in itertools.pairwise(edges):
            lo = min(window[a:b_], key=lambda s: (s.up if sign < 0 else s.down) - k * (s.x - x0))
            pts.append((lo.x, lo.up if sign < 0 else -lo.down))
        slopes += [(y1 - y0) / (x1 - x0_) for (x0_, y0), (x1, y1) in itertools.pairwise(pts) if x1 > x0_]
    if not slopes:
        return None
    slopes.sort()
    n = len(slopes)
    med = (slopes[(n - 1) // 2] + slopes[n // 2]) / 2
    dev = sorted(abs(v - med) for v in slopes)
    mad = (dev[(n - 1) // 2] + dev[n // 2]) / 2
    return med, (1.4826 * mad) ** 2 * (math.pi / 2) / n


def _envelope_once(window: list[SyncSample], guess: float) -> tuple[float, float, int] | None:
    """The skew from the lower envelopes: (skew, its variance, degrees of freedom).

    A direction's delays above its envelope are queueing, which says nothing about the clocks;
    its lowest exchanges (picked relative to the ``guess``, whose error over a window is far
    smaller than a queue's spread) lie on a line whose slope is the skew: up rises with the
    offset, down falls with it. Two fits, the one with the smaller variance kept: each direction
    on its own, combined by their residual variances (a never-idle direction's scattered
    envelope counts little, and a queue that moves from one direction to the other tilts only
    the one it is in); and the midpoint of the two directions' minima per stretch (a delay
    that grows both ways at once, a congestion burst, cancels there). None: too few exchanges."""
    if len(window) < ENVELOPE_MIN:
        return None
    # the lowest of each stretch of time, not of the whole window: a wrong guess then tilts the
    # pick within a stretch only, and cannot pull the envelope toward one end (and its slope
    # toward the guess)
    bins = max(1, min(ENVELOPE_BINS, len(window) // ENVELOPE_MIN))
    edges = [len(window) * i // bins for i in range(bins + 1)]
    x0 = window[-1].x
    lows: list[list[list[SyncSample]]] = []  # per direction, per stretch: lowest first
    for sign in (-1.0, 1.0):
        g = guess if sign < 0 else -guess
        per_bin = []
        for a, b_ in itertools.pairwise(edges):
            part = window[a:b_]
            rel = [(s.up if sign < 0 else s.down) - g * (s.x - x0) for s in part]
            k = max(1, round(len(part) * ENVELOPE_SHARE))
            per_bin.append([part[i] for i in sorted(range(len(part)), key=rel.__getitem__)[:k]])
        lows.append(per_bin)
    fits = []
    for sign, per_bin in zip((-1.0, 1.0), lows, strict=True):
        low = [s for part in per_bin for s in part]
        # up = offset(x) + d_up; -down = offset(x) - d_down: both rise with the skew
        fit = _line([float(s.x - x0) for s in low], [float(s.up if sign < 0 else -s.down) for s in low])
        if fit is not None:
            fits.append(fit)
    if not fits:
        return None
    prec = sum(1.0 / v for _, v, _ in fits)
    best = (sum(f / v for f, v, _ in fits) / prec, 1.0 / prec, min(d for _, _, d in fits))
    mids = [(u[0], d[0]) for u, d in zip(lows[0], lows[1], strict=True) if u and d]
    mid = _line([(u.x + d.x) / 2 - x0 for u, d in mids], [(u.up - d.down) / 2 for u, d in mids])
    if mid is not None and _spread(mid) < _spread(best):
        return mid
    return best


def _spread(fit: tuple[float, float, int]) -> float:
    """What a skew fit costs a bound: its standard error times its Student-t multiple."""
    return t_quantile(ENVELOPE_Z, max(fit[2], 1)) * math.sqrt(fit[1])


def _line(xs: list[float], ys: list[float]) -> tuple[float, float, int] | None:
    """Least-squares slope of ``ys`` on ``xs``, its variance from the residuals, and the degrees
    of freedom; None with fewer than ``ENVELOPE_MIN`` points or no spread in time."""
    n = len(xs)
    if n < ENVELOPE_MIN:
        return None
    xm = sum(xs) / n
    ym = sum(ys) / n
    sxx = sum((x - xm) ** 2 for x in xs)
    if sxx <= 0:
        return None
    b = sum((x - xm) * (y - ym) for x, y in zip(xs, ys, strict=True)) / sxx
    s2 = sum((y - ym - b * (x - xm)) ** 2 for x, y in zip(xs, ys, strict=True)) / (n - 2)
    return b, max(s2, 1.0) / sxx, n - 2
