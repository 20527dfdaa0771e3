"""Network profiles: every shipped profile loads, new keys work, unknown keys are refused by name."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest
from buzzline.sim.netmodel import PROFILE_DIR, NetPath, ProfileError, load_profile
from buzzline.sim.races import RaceSim

LAN = (PROFILE_DIR / "lan.toml").read_text()
LAN_BODY = 0.3  # lan's body_median_ms


def write(tmp_path: Path, text: str) -> str:
    p = tmp_path / "p.toml"
    p.write_text(text)
    return str(p)


@pytest.mark.parametrize("name", sorted(p.stem for p in PROFILE_DIR.glob("*.toml")))
def test_every_shipped_profile_loads_and_races(name: str) -> None:
    prof = load_profile(name)
    assert sum(g.count for g in prof.groups) == prof.podiums
    sim = RaceSim(prof, 1)
    r = sim.race()
    assert r.truth and r.buzzline.latency_us > 0


def test_old_profile_keeps_its_values() -> None:
    prof = load_profile("wifi")
    (g,) = prof.groups
    assert g.count == 4 and g.up == g.down and g.up.idle_p == 0.2 and g.asymmetry == 0.1
    assert g.capture.board == "none" and prof.gaps == "log-uniform" and prof.events == ()


@pytest.mark.parametrize(
    ("edit", "named"),
    [
        (("idle_jitter_ms", ""), "[delay] unknown key 'idel_p'"),
        (("[loss]", "[delay.down]\nfloor = 1.0\n\n[loss]"), "[delay.down] unknown key 'floor'"),
        (("[loss]", "[delay.sideways]\nfloor_ms = 1.0\n\n[loss]"), "'sideways'"),
        (
            ("[loss]", "[capture]\nboard = 'esp32'\ntail_max = 3\n\n[loss]"),
            "[capture] unknown key 'tail_max'",
        ),
        (("[races]", "[extras]\nx = 1\n\n[races]"), "'extras'"),
        (("[races]", "[[groups]]\nname = 'a'\ncount = 4\ncolour = 'red'\n\n[races]"), "'colour'"),
        (("[races]", "[[events]]\nat_s = 1.0\nkind = 'reboot'\npodium = 2\nwhen = 3\n\n[races]"), "'when'"),
    ],
)
def test_unknown_keys_are_errors_naming_the_key(tmp_path: Path, edit: tuple[str, str], named: str) -> None:
    if edit[0] == "idle_jitter_ms":
        text = LAN.replace("asymmetry = 0.1", "asymmetry = 0.1\nidel_p = 0.1")
    else:
        text = LAN.replace(edit[0], edit[1], 1)
    with pytest.raises(ProfileError) as e:
        load_profile(write(tmp_path, text))
    assert named in str(e.value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[[groups]]\nname = 'a'\ncount = 3\n", "add up to 3, not podiums = 4"),
        ("[[events]]\nat_s = 1.0\nkind = 'reboot'\npodium = 9\n", "podium from 1 to 4"),
        ("[[events]]\nat_s = 1.0\nkind = 'congestion'\ngroup = 'x'\n", "congestion needs group"),
        ("[[events]]\nat_s = 1.0\nkind = 'flood'\n", "kind must be one of"),
        (
            "[[events]]\nat_s = 1.0\nkind = 'queue'\ngroup = 'all'\nduration_s = 5.0\nidle_p = 0.0\n",
            "needs direction",
        ),
        (
            "[[events]]\nat_s = 1.0\nkind = 'queue'\ngroup = 'all'\nduration_s = 5.0\ndirection = 'up'\n",
            "one of idle_p",
        ),
        (
            "[[events]]\nat_s = 1.0\nkind = 'congestion'\ngroup = 'all'\nduration_s = 5.0\nextra_ms = 5.0\n"
            "direction = 'up'\n",
            "belong to kind = 'queue' only",
        ),
        (
            "[[events]]\nat_s = 1.0\nkind = 'queue'\ngroup = 'all'\nduration_s = 5.0\nevery_s = 2.0\n"
            "direction = 'up'\nidle_p = 0.0\n",
            "every_s must be at least duration_s",
        ),
        (
            "[[events]]\nat_s = 1.0\nkind = 'queue'\ndirection = 'sideways'\n",
            "direction must be one of up, down",
        ),
        ("[stamping]\nhost_read_us = 100.0\nhost_lag_us = 5.0\n", "unknown key 'host_lag_us'"),
    ],
)
def test_bad_groups_and_events_are_refused(tmp_path: Path, text: str, reason: str) -> None:
    with pytest.raises(ProfileError, match=reason):
        load_profile(write(tmp_path, LAN + "\n" + text))


def test_per_direction_delay_and_group_inheritance() -> None:
    prof = load_profile("wifi-congested")
    (g,) = prof.groups
    assert g.up.body_median_ms == 12.0 and g.down.body_median_ms == 2.0
    assert g.up.floor_ms == g.down.floor_ms == 1.5 and g.up.tail == "pareto"
    mixed = load_profile("mixed-fleet")
    wired, wifi = mixed.groups
    assert (wired.count, wifi.count) == (4, 4) and wired.up.floor_ms == 0.3 and wifi.up.floor_ms == 3.0
    assert wired.loss.loss_p == 0.001 and wifi.loss.loss_p == 0.05
    assert wired.capture.board == "picow" and wifi.capture.board == "esp32"
    assert mixed.group_of(3).name == "wired" and mixed.group_of(4).name == "wifi"
    assert mixed.offset_s == (1.0, 1000.0) and mixed.gaps == "exponential"


def test_pareto_tail_is_heavier_than_lognormal() -> None:
    prof = load_profile("wifi-congested")
    g = prof.groups[0]
    up = NetPath(g.up, g.loss, random.Random(1), 1.0)
    xs = sorted(up.delay_us() or 0 for _ in range(20_000))
    assert xs[-20] > 10 * statistics.median(xs)


def test_exponential_gaps_have_their_mean(tmp_path: Path) -> None:
    text = LAN.replace("min_gap_ms = 0.05\nmax_gap_ms = 200.0", "gaps = 'exponential'\nmean_gap_ms = 20.0")
    sim = RaceSim(load_profile(write(tmp_path, text)), 3)
    gaps = [sim._gap_us() for _ in range(4_000)]
    assert 18_000 < statistics.mean(gaps) < 22_000


def test_scheduled_reboot_and_congestion_happen(tmp_path: Path) -> None:
    text = LAN + (
        "\n[[events]]\nat_s = 10.0\nkind = 'reboot'\npodium = 2\n"
        "\n[[events]]\nat_s = 0.0\nkind = 'congestion'\ngroup = 'all'\nduration_s = 1000.0\nextra_ms = 50.0\n"
    )
    sim = RaceSim(load_profile(write(tmp_path, text)), 4)
    races = [sim.race() for _ in range(8)]
    assert sim.podiums[1].clock.boot == 2 and all(
        p.clock.boot == 1 for i, p in enumerate(sim.podiums) if i != 1
    )
    # every message of the congested show carries the extra 50 ms
    assert all(r.arrival_order.latency_us >= 50_000 for r in races)


def test_queue_event_reshapes_one_direction_while_it_lasts(tmp_path: Path) -> None:
    """A queue flip: for 20 of every 40 s the uplink never idles and queues ~30 ms, then it is
    the lan path again; the downlink is untouched throughout."""
    text = LAN + (
        "\n[[events]]\nat_s = 0.0\nevery_s = 40.0\nduration_s = 20.0\nkind = 'queue'\ngroup = 'all'\n"
        "direction = 'up'\nidle_p = 0.0\nbody_median_ms = 30.0\n"
    )
    prof = load_profile(write(tmp_path, text))
    (e,) = prof.events
    assert [e.active(t) for t in (0.0, 19.9, 20.0, 39.9, 40.0, 65.0)] == [
        True,
        True,
        False,
        False,
        True,
        False,
    ]
    sim = RaceSim(prof, 2)
    seen = set()
    for _ in range(40):
        sim.race()
        pod = sim.podiums[0]
        seen.add(pod.up.d.body_median_ms)
        assert pod.down.d == pod.group.down
    assert seen == {30.0, LAN_BODY}


def test_stamping_delays_every_stamp_from_the_wire(tmp_path: Path) -> None:
    plain = RaceSim(load_profile(write(tmp_path, LAN)), 5)
    slow = load_profile(
        write(tmp_path, LAN + "\n[stamping]\nhost_read_us = 400.0\npodium_write_us = 300.0\n")
    )
    assert slow.stamping.host_read_us == 400.0 and slow.stamping.host_write_us == 0.0
    stamped = RaceSim(slow, 5)
    p = stamped.podiums[0]
    # every upstream message arrives at least the median-scale software time later than its path
    delays = [stamped._up_us(p) for _ in range(2_000)]
    path = [plain._up_us(plain.podiums[0]) for _ in range(2_000)]
    assert statistics.median(delays) - statistics.median(path) > 600
