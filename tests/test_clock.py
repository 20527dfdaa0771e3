"""ClockModel and ClockBook: offset/skew estimation, error bounds, outliers, reboots."""

from __future__ import annotations

import random

from buzzline.core.clock import (
    CAPTURE_DEFAULT_US,
    CAPTURE_UNKNOWN_US,
    UNKNOWN_ERR_US,
    ClockBook,
    ClockModel,
    capture_bound_us,
    with_capture,
)
from buzzline.core.types import Mapping

OFFSET = 987_654_321  # host - podium at podium time 0


def host_of(pt: int, skew_ppm: float = 0.0) -> int:
    return OFFSET + pt + round(pt * skew_ppm * 1e-6)


def exchange(
    m: ClockModel, t1: int, up: int, down: int, skew_ppm: float = 0.0, turn: int = 40
) -> tuple[bool, int, int, int, int]:
    t2 = host_of(t1 + up, skew_ppm)
    t3 = t2 + turn
    # podium sees the host turnaround on its own (skewed) clock, close enough over 40 µs
    t4 = t1 + up + turn + down
    return m.add_sample(t1, t2, t3, t4), t1, t2, t3, t4


def test_empty_model_is_untrusted_and_wide() -> None:
    m = ClockModel()
    mp = m.map(1_000)
    assert not mp.trusted
    assert mp.err_us == UNKNOWN_ERR_US
    assert m.samples == 0 and not m.trusted


def test_symmetric_noise_free_offset_is_exact() -> None:
    m = ClockModel()
    for i in range(ClockModel.MIN_SAMPLES + 4):
        assert exchange(m, 1_000_000 + i * 250_000, 2_000, 2_000)[0]
    assert m.trusted
    mp = m.map(5_000_000)
    assert abs(mp.host_us - host_of(5_000_000)) <= 2
    assert mp.trusted
    assert abs(m.offset_us - OFFSET) <= 2
    assert abs(m.skew_ppm) < 0.5


def test_few_samples_untrusted_with_strict_bound() -> None:
    m = ClockModel()
    exchange(m, 1_000_000, 500, 3_500)  # asymmetric: the estimate is 1.5 ms off
    mp = m.map(1_002_000)
    assert not mp.trusted
    # strict NTP bound: half the round trip covers any asymmetry
    assert abs(mp.host_us - host_of(1_002_000)) <= mp.err_us
    assert mp.err_us >= 2_000


def test_skew_is_estimated_and_bound_contains_truth() -> None:
    rng = random.Random(7)
    m = ClockModel()
    skew = 45.0
    t = 10_000_000
    for _ in range(60):
        up, down = 1_000 + int(rng.expovariate(1 / 400)), 1_000 + int(rng.expovariate(1 / 400))
        exchange(m, t, up, down, skew)
        t += 250_000
    assert abs(m.skew_ppm - skew) < 5
    for ahead in (0, 100_000, 400_000):
        mp = m.map(t + ahead)
        assert abs(mp.host_us - host_of(t + ahead, skew)) <= mp.err_us
    assert m.err_us < 1_000


def test_invalid_samples_rejected_without_change() -> None:
    m = ClockModel()
    exchange(m, 1_000_000, 1_000, 1_000)
    before = (m.samples, m.offset_us)
    assert not m.add_sample(2_000_000, 5, 4, 2_000_100)  # t3 < t2
    assert not m.add_sample(2_000_000, 5, 6, 1_999_999)  # t4 < t1
    assert not m.add_sample(900_000, 5, 6, 900_100)  # podium time went backwards
    assert not m.add_sample(-1, 5, 6, 10)
    assert not m.add_sample(True, 5, 6, 10)  # type: ignore[arg-type]
    assert not m.add_sample(3_000_000, 0, 5_000_000, 3_000_010)  # negative round trip
    assert (m.samples, m.offset_us) == before


def test_congested_burst_rejected_then_readmitted() -> None:
    m = ClockModel()
    t = 1_000_000
    for _ in range(ClockModel.MIN_SAMPLES + 4):
        exchange(m, t, 1_000, 1_000)
        t += 250_000
    off = m.offset_us
    # one slow asymmetric exchange: an outlier, model unchanged
    ok, *_ = exchange(m, t, 90_000, 1_000)
    assert not ok
    assert m.offset_us == off and m.samples == ClockModel.MIN_SAMPLES + 4
    # a congestion burst of a few seconds is rejected without wiping the model
    for _ in range(ClockModel.READMIT_AFTER * 2):
        t += 250_000
        assert not exchange(m, t, 45_000, 45_000)[0]
    assert m.offset_us == off and m.trusted
    # the path stays slow: after SLOW_READMIT_US of rejections the model re-converges on it
    accepted = False
    for _ in range(ClockModel.SLOW_READMIT_US // 250_000):
        t += 250_000
        accepted = exchange(m, t, 45_000, 45_000)[0] or accepted
    assert accepted
    mp = m.map(t)
    assert abs(mp.host_us - host_of(t)) <= mp.err_us


def test_garbage_step_is_rejected() -> None:
    m = ClockModel()
    t = 1_000_000
    for _ in range(ClockModel.MIN_SAMPLES + 4):
        exchange(m, t, 1_000, 1_000)
        t += 250_000
    # host stamps 5 s off with a tiny round trip: impossible under the fit
    assert not m.add_sample(t, host_of(t) + 5_000_000, host_of(t) + 5_000_040, t + 2_040)


def test_reset_forgets() -> None:
    m = ClockModel()
    for i in range(ClockModel.MIN_SAMPLES):
        exchange(m, 1_000_000 + i * 1_000, 100, 100)
    m.reset()
    assert m.samples == 0 and not m.map(5).trusted


def test_book_new_boot_gives_fresh_model() -> None:
    book = ClockBook()
    m1 = book.model("p1", boot=1)
    for i in range(ClockModel.MIN_SAMPLES):
        exchange(m1, 1_000_000 + i * 100_000, 100, 100)
    assert book.model("p1", 1) is m1 and m1.trusted
    m2 = book.model("p1", boot=2)
    assert m2 is not m1 and m2.samples == 0
    assert book.get("p1") is m2


def test_book_time_backwards_resets() -> None:
    book = ClockBook()
    m = book.model("p1", 1)
    for i in range(ClockModel.MIN_SAMPLES):
        exchange(m, 1_000_000 + i * 100_000, 100, 100)
    assert not book.note_time("p1", 1, 8_000_000)
    assert m.trusted
    assert not book.note_time("p1", 1, 7_000_000)  # interleaved topics: a little older is fine
    assert m.trusted
    assert book.note_time("p1", 1, 5_000)  # restarted clock under the same nonce
    assert book.get("p1") is m and m.samples == 0
    assert not book.map("p1", 6_000).trusted
    assert not book.map("nobody", 6_000).trusted


def test_capture_bound_declared_or_board_default() -> None:
    assert capture_bound_us("esp32", [40, 6_000]) == 6_000
    assert capture_bound_us("picow", (25, 90)) == 90
    # nothing declared, or garbage declared: the board's conservative default
    assert capture_bound_us("esp32") == CAPTURE_DEFAULT_US["esp32"] >= 5_000
    assert capture_bound_us("picow", [90, 25]) == CAPTURE_DEFAULT_US["picow"]
    assert capture_bound_us("picow", [1, True]) == CAPTURE_DEFAULT_US["picow"]
    assert capture_bound_us("picow", [1, 2, 3]) == CAPTURE_DEFAULT_US["picow"]
    assert capture_bound_us("esp32", [0, 5_000_000]) == CAPTURE_DEFAULT_US["esp32"]
    assert capture_bound_us("toaster") == CAPTURE_UNKNOWN_US


def test_with_capture_covers_every_late_stamp() -> None:
    m = Mapping(host_us=1_000_000, err_us=200, trusted=True)
    assert with_capture(m, 0) == m
    c = with_capture(m, 5_001)
    assert c.trusted and c.err_us >= m.err_us + 2_500
    # the press happened 0..5001 µs before the stamp; the clock is off by up to 200 µs either way
    for late in (0, 1, 2_500, 5_001):
        for clock_err in (-200, 0, 200):
            true_press = m.host_us + clock_err - late
            assert abs(c.host_us - true_press) <= c.err_us


def test_asymmetry_allowance_grows_on_slow_paths_unless_the_venue_states_it() -> None:
    """By default the allowance is 10% of half the best round trip on a healthy path and grows
    to 20% as that round trip goes from 6 to 8 ms; a stated share holds whatever the path."""

    def share(rtt_us: int, asymmetry: float | None = None) -> tuple[float, int]:
        m = ClockModel(asymmetry=asymmetry)
        for i in range(ClockModel.MIN_SAMPLES + 4):
            exchange(m, 1_000_000 + i * 250_000, rtt_us // 2, rtt_us // 2)  # round trip rtt_us
        return m.asymmetry_share(), m.map(4_000_000).err_us

    assert share(3_000)[0] == ClockModel.ASYMMETRY
    assert share(6_000)[0] == ClockModel.ASYMMETRY
    assert abs(share(7_000)[0] - (ClockModel.ASYMMETRY + ClockModel.ASYMMETRY_SLOW) / 2) < 1e-9
    assert share(8_000)[0] == ClockModel.ASYMMETRY_SLOW and share(20_000)[0] == ClockModel.ASYMMETRY_SLOW
    assert share(20_000, asymmetry=0.1)[0] == 0.1 and share(3_000, asymmetry=0.3)[0] == 0.3
    # the share reaches the bound: on the same slow path, the automatic bound is the wider
    assert share(10_000)[1] > share(10_000, asymmetry=0.1)[1]


def test_never_idle_uplink_offset_from_each_directions_minimum() -> None:
    """Issue 22: every uplink message queues 2-40 ms, the downlink idles often; no exchange is
    fast both ways. The midpoint of the fastest exchange is off by half its queueing; each
    direction's minimum on its own is not, and the bound covers the truth."""
    rng = random.Random(11)
    m = ClockModel()
    t = 10_000_000
    best_rtt = None
    for _ in range(400):
        up = 1_500 + int(2_000 + rng.lognormvariate(8.5, 0.9))  # never under 3.5 ms
        down = 1_500 + (int(rng.uniform(0, 200)) if rng.random() < 0.3 else int(rng.lognormvariate(7.3, 0.6)))
        ok, t1, t2, t3, t4 = exchange(m, t, up, down, skew_ppm=-30.0)
        if ok and (best_rtt is None or up + down < best_rtt[0]):
            best_rtt = (up + down, ((t2 - t1) + (t3 - t4)) / 2)
        t += 250_000
    assert best_rtt is not None
    truth = host_of(t, -30.0)
    mp = m.map(t)
    assert abs(mp.host_us - truth) <= mp.err_us
    # the fastest exchange's midpoint is off by ~1 ms (half the uplink's queue); minima: far less
    midpoint_err = abs(t + best_rtt[1] - truth)
    assert midpoint_err > 900
    assert abs(mp.host_us - truth) < midpoint_err / 2
    # a sparse uplink envelope is thin evidence: the bound is wide, and lopsided toward it
    assert mp.err_us > 500


def test_excess_factor_shrinks_with_evidence() -> None:
    from buzzline.core.oneway import excess_factor

    factors = [excess_factor(k) for k in (2, 4, 8, 16, 32)]
    assert factors == sorted(factors, reverse=True) and factors[-1] > 1
    assert excess_factor(1) == float("inf")
    # a steeper lower tail (larger alpha) needs a larger factor for the same confidence
    assert excess_factor(16, alpha=4) > excess_factor(16, alpha=3) > excess_factor(16, alpha=1)


def test_excess_bound_uses_the_rank_that_still_crowds_at_the_floor() -> None:
    """A direction that idles 5% of the time (wifi-congested's uplink) has ~25 floor-near
    exchanges in its window: the 32nd lowest is a queued one, the 8th and 16th are not."""
    import random

    from buzzline.core.oneway import excess_bound, excess_factor

    rng = random.Random(3)
    floor = 1_500.0
    near = [floor + rng.uniform(0, 200) for _ in range(25)]  # idle: floor + backoff jitter
    queued = [floor + rng.lognormvariate(9.4, 0.6) for _ in range(475)]  # ~12 ms queue
    ranked = sorted(near + queued)
    bound = excess_bound(ranked)
    assert ranked[0] - floor <= bound  # the true excess is covered
    assert bound < 1_000  # and not by a queued exchange's spacing
    assert bound < excess_factor(32) * (ranked[31] - ranked[0]) / 10
    # a direction that never drains keeps a wide bound: the three tests split the miss chance
    sparse = sorted(floor + rng.lognormvariate(9.4, 0.6) for _ in range(500))
    assert excess_bound(sparse) > excess_factor(32) * (sparse[31] - sparse[0])
    assert excess_bound(sparse[:1]) == float("inf")


def test_a_mapping_follows_every_new_exchange_and_is_the_same_computed_anew() -> None:
    """map() is O(1) per press (each direction ranked once per change, the last result kept):
    a new exchange must still move it, and a cached answer must equal a fresh model's."""
    from buzzline.core.clock import export_model, restore_model

    m = ClockModel()
    t = 1_000_000
    for _ in range(40):
        exchange(m, t, 6_000, 6_000)
        t += 250_000
    x = t + 100_000
    wide = m.map(x)
    assert m.map(x) == wide
    exchange(m, t, 500, 500)  # one fast exchange both ways: the bound narrows at once
    narrow = m.map(x)
    assert narrow.err_us < wide.err_us
    assert abs(narrow.host_us - host_of(x)) <= narrow.err_us
    # inside the window (before the newest exchange) as after it: the same as computed afresh
    fresh = restore_model(export_model(m))
    assert fresh is not None
    for px in (t - 5_000_000, t - 125_000, x, x + 60_000_000):
        assert m.map(px) == fresh.map(px)


def _path_exchange(
    m: ClockModel, rng: random.Random, t1: int, offset: int, floor: int, jitter: int
) -> tuple[bool, int]:
    """One exchange on a path whose floors are ``floor`` each way, plus uniform jitter; the
    podium's clock is ``offset`` behind the host's. Returns (taken, true host time of t1)."""
    up = floor + rng.randrange(jitter)
    down = floor + rng.randrange(jitter)
    t2 = offset + t1 + up
    t3 = t2 + 40
    return m.add_sample(t1, t2, t3, t1 + up + 40 + down), offset + t1


def _first_boot(book: ClockBook, rng: random.Random, floor: int, jitter: int) -> None:
    m = book.model("p1", boot=1)
    for i in range(300):
        _path_exchange(m, rng, 1_000_000 + i * 250_000, OFFSET, floor, jitter)
    assert m.trusted


def test_a_reboot_keeps_its_paths_floor_and_is_trusted_after_a_few_exchanges() -> None:
    # a busy path: 2.5 ms floors and 1.5 ms of jitter each way; the first boot learned the floor
    rng = random.Random(5)
    book = ClockBook()
    _first_boot(book, rng, 2_500, 1_500)
    new_offset = OFFSET + 77_000_000  # the new boot counts from zero again
    m = book.model("p1", boot=2)
    assert m.floor_prior_us is not None and 3_500 < m.floor_prior_us <= 5_000  # true: 5,000
    for i in range(ClockModel.MIN_SAMPLES_PATH):
        _path_exchange(m, rng, 100_000 + i * 60_000, new_offset, 2_500, 1_500)
    assert m.trusted
    pt = 100_000 + 5 * 60_000
    mp = m.map(pt)
    assert mp.trusted and abs(mp.host_us - (new_offset + pt)) <= mp.err_us

    # the same exchanges without the last boot's path: the window alone cannot pin the offset
    fresh = ClockModel()
    rng = random.Random(5)
    _first_boot(ClockBook(), rng, 2_500, 1_500)
    for i in range(ClockModel.MIN_SAMPLES):
        _path_exchange(fresh, rng, 100_000 + i * 60_000, new_offset, 2_500, 1_500)
    assert not fresh.trusted and fresh.floor_prior_us is None


def test_a_faster_path_after_a_reboot_drops_the_old_floor() -> None:
    rng = random.Random(9)
    book = ClockBook()
    _first_boot(book, rng, 2_500, 1_500)
    m = book.model("p1", boot=2)
    assert m.floor_prior_us is not None
    # now 0.5 ms floors: the old floor would claim minima that are not there
    new_offset = OFFSET - 5_000_000
    covered = 0
    for i in range(40):
        taken, host = _path_exchange(m, rng, 100_000 + i * 60_000, new_offset, 500, 300)
        assert taken
        mp = m.map(100_000 + i * 60_000)
        covered += abs(mp.host_us - host) <= mp.err_us
    assert m.floor_prior_us is None
    assert covered == 40


def test_a_new_board_takes_no_path_floor() -> None:
    rng = random.Random(2)
    book = ClockBook()
    book.note_board("p1", "aa:01")
    _first_boot(book, rng, 2_500, 1_500)
    assert book.note_board("p1", "aa:02")
    assert book.model("p1", boot=2).floor_prior_us is None


def test_the_path_floor_survives_a_host_restart() -> None:
    from buzzline.core.clock import export_model, restore_model

    rng = random.Random(3)
    book = ClockBook()
    _first_boot(book, rng, 2_500, 1_500)
    m = book.model("p1", boot=2)
    for i in range(2):
        _path_exchange(m, rng, 100_000 + i * 60_000, OFFSET, 2_500, 1_500)
    back = restore_model(export_model(m))
    assert back is not None and back.floor_prior_us == m.floor_prior_us


def test_a_holding_link_sends_many_congested_exchanges_without_a_restart() -> None:
    # 16 exchanges a second, and a radio that holds the uplink for 10 s: 160 congested in a row
    m = ClockModel()
    t = 1_000_000
    for _ in range(40):
        exchange(m, t, 1_000, 1_000)
        t += 62_000
    assert m.trusted
    n = m.samples
    for _ in range(160):
        assert not exchange(m, t, 900_000, 1_000)[0]
        t += 62_000
    assert m.trusted and m.samples == n


def test_a_crystal_at_its_rated_limit_keeps_its_skew_under_a_reboots_prior() -> None:
    """wifi-bad seed 9 (issue 22): a podium whose skew wandered to the worst crystal's 100 ppm,
    rebooted once (so its model holds the old skew as a prior). Its window's fit lands a little
    past 100 ppm about half the time; that is a crystal at its limit, within the fit's own
    error, not a lying window. Read as "no skew" (0) while the prior capped the skew's error at
    7 ppm, the bound was 30 µs to a few hundred, 5-9 ms off, and races were called wrong."""
    rng = random.Random(1)
    skew = 100.0
    m = ClockModel(skew_prior=skew * 1e-6)
    t = 10_000_000
    for i in range(400):
        # a slow, never idle path both ways: the envelope is scattered, the fit noisy
        up = 3_000 + int(rng.lognormvariate(8.9, 0.7))
        down = 3_000 + int(rng.lognormvariate(8.9, 0.7))
        exchange(m, t, up, down, skew)
        t += 250_000
        if i < ClockModel.MIN_SAMPLES:
            continue
        assert abs(m.skew_ppm - skew) < 5, (i, m.skew_ppm)
        for ahead in (0, 100_000, 2_000_000):
            mp = m.map(t + ahead)
            assert abs(mp.host_us - host_of(t + ahead, skew)) <= mp.err_us, (i, ahead, mp)


def test_evidence_that_contradicts_itself_gives_a_wide_untrusted_bound_and_a_refit() -> None:
    """A crystal whose rate jumps 100 ppm (no real crystal does; it stands for any fault that
    leaves the fit wrong): between refits the exchanges move away from the fitted line until
    the statements the bound rests on leave an empty interval. That must never read as a
    bound of the stamping floor alone (30 µs; before: 74 such mappings here), but as the
    interval no negative delay can leave with no skew knowledge, untrusted, and a refit."""
    rng = random.Random(1)
    m = ClockModel()
    t = 10_000_000
    knee: int | None = None

    def host(pt: int) -> int:
        return OFFSET + pt + (0 if knee is None or pt < knee else round((pt - knee) * 100e-6))

    untrusted = 0
    for i in range(300):
        if i == 200:
            knee = t
        up, down = 150 + int(rng.uniform(0, 60)), 150 + int(rng.uniform(0, 60))
        t2 = host(t + up)
        assert m.add_sample(t, t2, t2 + 40, t + up + 40 + down)
        t += 250_000
        mp = m.map(t + 100_000)
        assert mp.err_us > ClockModel.FLOOR_US, (i, mp)
        if i >= ClockModel.MIN_SAMPLES and not mp.trusted:
            untrusted += 1
            assert abs(mp.host_us - host(t + 100_000)) <= mp.err_us, (i, mp)
    assert m.contradictions > 0 and untrusted > 0
    # each contradiction refitted at once: the fit leaves 0 ppm well before 32 exchanges pass
    assert m.skew_ppm > 5


def test_a_stale_reboot_prior_is_dropped_once_the_window_contradicts_it() -> None:
    # issue 22, wifi-bad at 20,000 races: a prior of -47 ppm handed from boot to boot while the
    # crystal wandered to -10 ppm; the window's own fit must win, and every mapping cover
    skew = -10.0
    m = ClockModel(skew_prior=-47e-6)
    rng = random.Random(4)
    covered = total = 0
    t = 1_000_000
    for _ in range(400):
        up, down = 800 + rng.randrange(600), 800 + rng.randrange(600)
        exchange(m, t, up, down, skew_ppm=skew)
        mp = m.map(t + 100_000)
        if mp.trusted:
            total += 1
            covered += abs(mp.host_us - host_of(t + 100_000, skew)) <= mp.err_us
        t += 250_000
    assert m.prior_ppm is None and m.stale_priors == 1
    assert abs(m.skew_ppm - skew) < 2
    assert total > 300 and covered == total
