"""Hypothesis properties of the arbiter and the clock model's error bound."""

from __future__ import annotations

import math
import random

from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.clock import ClockModel
from buzzline.core.types import Decided, Decision, Press
from buzzline.sim.netmodel import NetPath, PodiumClock, load_profile
from buzzline.sim.races import RaceSim
from hypothesis import example, given, settings
from hypothesis import strategies as st

ARM = 1_000_000
PODS = ("a", "b", "c", "d")

press_sets = st.lists(st.tuples(st.integers(0, 20_000), st.integers(0, 600)), min_size=1, max_size=4).map(
    lambda xs: [Press(PODS[i], 1, m, ARM + m, e, 0) for i, (m, e) in enumerate(xs)]
)


def run(presses: list[Press], order: list[int], tie_rule: str = "earliest") -> Decision | None:
    arb = Arbiter(1, dict.fromkeys(PODS), ArbiterRules(tie_rule=tie_rule), seed=5)
    arb.arm(ARM, ARM)
    now = ARM + 50_000
    for i in order:
        now += 1_000
        for e in arb.press(presses[i], now):
            if isinstance(e, Decided):
                return e.decision
    for p in PODS:  # everyone else is then heard well past every press
        now += 1_000
        for e in arb.watermark(p, 9, ARM + 100_000, now):
            if isinstance(e, Decided):
                return e.decision
    return None


@settings(max_examples=150, deadline=None)
@given(press_sets, st.randoms(use_true_random=False))
def test_arrival_order_does_not_change_the_decision(presses: list[Press], rnd: random.Random) -> None:
    order = list(range(len(presses)))
    d1 = run(presses, order)
    rnd.shuffle(order)
    d2 = run(presses, order)
    assert d1 is not None and d2 is not None
    assert (d1.winner, d1.order, d1.tied, d1.flags) == (d2.winner, d2.order, d2.tied, d2.flags)


@settings(max_examples=150, deadline=None)
@given(press_sets, st.lists(st.integers(0, 40_000), min_size=4, max_size=4))
def test_nothing_final_before_watermarks(presses: list[Press], wms: list[int]) -> None:
    arb = Arbiter(1, dict.fromkeys(PODS), ArbiterRules(max_wait_us=10**9))
    arb.arm(ARM, ARM)
    now = ARM + 50_000
    for p in presses:
        now += 10
        out = arb.press(p, now)
        for pod, wm in zip(PODS, wms, strict=True):
            out += arb.watermark(pod, 2, ARM + wm, now, err_us=100)
        if any(isinstance(e, Decided) for e in out):
            lead = min(presses[: presses.index(p) + 1], key=lambda q: (q.mapped_us, q.podium))
            limit = lead.mapped_us + lead.err_us
            pressed = {q.podium for q in presses[: presses.index(p) + 1]}
            for pod, wm in zip(PODS, wms, strict=True):
                assert pod in pressed or ARM + wm - 100 > limit
            return


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 3_000), st.integers(0, 800), st.integers(0, 800))
def test_tie_is_symmetric_in_podiums(gap: int, ea: int, eb: int) -> None:
    def tied(first: str, second: str) -> tuple[str, ...]:
        ps = [Press(first, 1, 0, ARM + 10_000, ea, 0), Press(second, 1, 0, ARM + 10_000 + gap, eb, 0)]
        arb = Arbiter(1, {first: None, second: None}, ArbiterRules(tie_rule="none"))
        arb.arm(ARM, ARM)
        arb.press(ps[0], ARM + 20_000)
        d = next(e.decision for e in arb.press(ps[1], ARM + 21_000) if isinstance(e, Decided))
        return tuple(sorted(d.tied))

    assert tied("a", "b") == tuple(sorted({"a": "b", "b": "a"}[x] for x in tied("b", "a")))


def _bound_holds(profile: str, seed: int, noise_free: bool) -> bool:
    prof = load_profile(profile)
    rng = random.Random(seed)
    g = prof.groups[0]
    up, down = NetPath(g.up, g.loss, rng, 1.0), NetPath(g.down, g.loss, rng, 1.0)
    clock = PodiumClock(rng, prof.skew_ppm, 0)
    m = ClockModel()
    t = 0
    for _ in range(200):
        t += 500_000
        u, d = (1_500, 1_500) if noise_free else (up.delay_us(False), down.delay_us(False))
        if u is None or d is None:
            continue
        t2 = t + u
        m.add_sample(clock.at(t), t2, t2 + 80, clock.at(t2 + 80 + d))
        q = t + rng.randrange(500_000)
        mp = m.map(clock.at(q))
        # untrusted mappings are flagged by the arbiter, never relied on
        if (mp.trusted or noise_free) and abs(mp.host_us - q) > mp.err_us:
            return False
    return True


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10**6))
def test_clock_bound_contains_truth_noise_free(seed: int) -> None:
    assert _bound_holds("wifi", seed, noise_free=True)


@settings(max_examples=6, deadline=None)
@given(st.integers(0, 10**6))
def test_clock_bound_contains_truth_noisy(seed: int) -> None:
    assert _bound_holds("wifi", seed, noise_free=False)


@settings(max_examples=5, deadline=None)
@given(
    st.sampled_from(["wifi", "wifi-bad", "wifi-congested", "mixed-fleet", "wifi-esp32", "lan"]),
    st.integers(0, 10**6),
)
@example("wifi-congested", 724)  # 2 misses in its first 25 races: within chance at 99%
def test_bound_coverage_over_every_press(profile: str, seed: int) -> None:
    """Issue 13: the bound stated with each mapped press (clock and capture) covers the true press
    time, for trusted and untrusted mappings alike, on every profile."""
    sim = RaceSim(load_profile(profile), seed)
    results = [sim.race() for _ in range(50)]
    presses = sum(len(r.clock_errors_us) for r in results)
    covered = sum(r.covered for r in results)
    # 99% coverage is a claim about all presses; a sample of ~110 misses about one by chance at
    # exactly 99%. Fail when the misses are more than a 99%-covering bound gives one time in a
    # thousand (5 of 110 pass, 6 fail); a bound that covered only 90% would fail 97% of the time.
    assert presses >= 25 and presses - covered <= _misses_allowed(presses, 0.01, 1e-3), (
        profile,
        seed,
        covered,
        presses,
    )


def _misses_allowed(n: int, p: float, alpha: float) -> int:
    """The smallest k with P(X > k) < alpha for X ~ Binomial(n, p)."""
    tail = 1.0
    for k in range(n + 1):
        tail -= math.comb(n, k) * p**k * (1 - p) ** (n - k)
        if tail < alpha:
            return k
    return n
