"""Arbiter rules, one test per rule, with explicit host times (µs)."""

from __future__ import annotations

import pytest
from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.types import Decided, Decision, FalseStarted, LockAll, Overturned, Press, PressRejected

ARM = 1_000_000


def pr(
    podium: str, mapped: int, seq: int = 1, err: int = 200, arrival: int = 0, trusted: bool = True
) -> Press:
    return Press(podium, seq, mapped - 5_000_000, mapped, err, arrival or mapped + 5_000, trusted)


def armed(podiums: str = "a b c", **rules: object) -> Arbiter:
    arb = Arbiter(epoch=1, eligible={p: None for p in podiums.split()}, rules=ArbiterRules(**rules), seed=3)  # type: ignore[arg-type]
    assert arb.arm(ARM, ARM) == []
    return arb


def decided(effects: list[object]) -> Decision:
    ds = [e for e in effects if isinstance(e, Decided)]
    assert len(ds) == 1, effects
    return ds[0].decision


def test_first_arrival_locks_others_and_waits() -> None:
    arb = armed()
    out = arb.press(pr("b", ARM + 10_000), ARM + 15_000)
    assert out == [LockAll(1, ("a", "c"), "b")]
    assert arb.phase == "locked"
    assert arb.next_deadline() == ARM + 15_000 + arb.rules.max_wait_us


def test_final_when_watermarks_pass_leader() -> None:
    arb = armed()
    arb.press(pr("b", ARM + 10_000), ARM + 15_000)
    # a watermark not yet past leader + errors does not finalise
    assert arb.watermark("a", 5, ARM + 10_300, ARM + 16_000, err_us=200) == []
    assert arb.watermark("a", 6, ARM + 20_000, ARM + 25_000, err_us=200) == []
    d = decided(arb.watermark("c", 9, ARM + 21_000, ARM + 26_000, err_us=200))
    assert d.winner == "b" and d.flags == frozenset() and d.decided_us == ARM + 26_000
    assert d.evidence["watermarks"] == {
        "a": {"mapped_us": ARM + 20_000, "err_us": 200, "seq": 6},
        "b": {"mapped_us": ARM + 10_000, "err_us": 200, "seq": 1},
        "c": {"mapped_us": ARM + 21_000, "err_us": 200, "seq": 9},
    }


def test_earlier_press_arriving_later_wins() -> None:
    arb = armed()
    arb.press(pr("b", ARM + 10_000), ARM + 12_000)
    arb.press(pr("a", ARM + 7_000), ARM + 40_000)  # pressed first, slow path
    d = decided(arb.watermark("c", 2, ARM + 30_000, ARM + 41_000))
    assert d.winner == "a"
    assert [(r.podium, r.gap_us) for r in d.order] == [("a", 0), ("b", 3_000)]


def test_offline_podium_not_waited_for() -> None:
    arb = armed()
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.watermark("b", 1, ARM + 20_000, ARM + 20_000)
    d = decided(arb.offline("c", ARM + 21_000))
    assert d.winner == "a" and "timeout" not in d.flags


def test_press_made_while_offline_overturns_the_decision() -> None:
    # c's link was down when it pressed: the press waited in its outbox and arrives once it is back
    arb = armed()
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.watermark("b", 1, ARM + 20_000, ARM + 20_000)
    d = decided(arb.offline("c", ARM + 21_000))
    assert d.winner == "a" and arb.provisional and not d.flags
    (over,) = arb.press(pr("c", ARM + 4_000), ARM + 600_000)
    assert isinstance(over, Overturned) and over.decision.winner == "c"


def test_offline_podium_heard_past_the_leader_makes_the_decision_final() -> None:
    arb = armed()
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.watermark("b", 1, ARM + 20_000, ARM + 20_000)
    decided(arb.offline("c", ARM + 21_000))
    assert arb.watermark("c", 5, ARM + 300_000, ARM + 310_000) == [] and not arb.provisional
    assert arb.press(pr("c", ARM + 4_000, seq=4), ARM + 320_000) == [PressRejected("c", 4, "late")]


def test_bounded_wait_flags_timeout() -> None:
    arb = armed(max_wait_us=100_000)
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    assert arb.tick(ARM + 114_999) == []
    d = decided(arb.tick(ARM + 115_000))
    assert d.winner == "a" and "timeout" in d.flags
    assert d.evidence["waiting_for"] == ["b", "c"]
    assert d.evidence["wait_us"] == 100_000
    assert "provisional" in d.flags and arb.provisional
    # a later press that does not change the answer is late
    assert arb.press(pr("c", ARM + 50_000), ARM + 150_000) == [PressRejected("c", 1, "late")]
    # b and c are complete now: the decision is final, and nothing can change it any more
    arb.watermark("b", 2, ARM + 120_000, ARM + 160_000)
    assert not arb.provisional
    assert arb.press(pr("b", ARM + 9_000), ARM + 200_000) == [PressRejected("b", 1, "late")]


@pytest.mark.parametrize(
    ("rule", "winner"),
    [("earliest", "a"), ("none", None)],
)
def test_tie_rules(rule: str, winner: str | None) -> None:
    arb = armed("a b", tie_rule=rule)
    arb.press(pr("a", ARM + 10_000, err=300), ARM + 15_000)
    d = decided(arb.press(pr("b", ARM + 10_500, err=300), ARM + 16_000))
    assert d.tied == ("a", "b") and "tie" in d.flags and d.is_tie
    assert d.winner == winner and d.tie_rule == rule


def test_gap_beyond_combined_bounds_is_no_tie() -> None:
    arb = armed("a b")
    arb.press(pr("a", ARM + 10_000, err=300), ARM + 15_000)
    d = decided(arb.press(pr("b", ARM + 10_601, err=300), ARM + 16_000))
    assert d.tied == () and "tie" not in d.flags and d.winner == "a"


def test_random_tie_is_seeded_and_logged() -> None:
    picks = set()
    for seed in range(12):
        arb = Arbiter(1, {"a": None, "b": None}, ArbiterRules(tie_rule="random"), seed=seed)
        arb.arm(ARM, ARM)
        arb.press(pr("a", ARM + 10_000), ARM + 15_000)
        d = decided(arb.press(pr("b", ARM + 10_100), ARM + 16_000))
        assert d.evidence["draw"] == {"seed": seed, "among": ["a", "b"], "picked": d.winner}
        assert d.order[0].podium == d.winner
        picks.add(d.winner)
        # same seed, same draw
        again = Arbiter(1, {"a": None, "b": None}, ArbiterRules(tie_rule="random"), seed=seed)
        again.arm(ARM, ARM)
        again.press(pr("b", ARM + 10_100), ARM + 15_000)
        assert decided(again.press(pr("a", ARM + 10_000), ARM + 16_000)).winner == d.winner
    assert picks == {"a", "b"}


def test_false_start_locks_out_and_renews() -> None:
    arb = Arbiter(1, {"a": None, "b": None}, ArbiterRules(false_start_us=250_000))
    out = arb.press(pr("a", ARM - 100_000, seq=1), ARM - 95_000)
    assert isinstance(out[0], FalseStarted) and out[0].false_start.locked_until_us == ARM + 150_000
    arb.press(pr("a", ARM - 50_000, seq=2), ARM - 45_000)  # renews
    assert arb.locked_until("a") == ARM + 200_000
    arb.arm(ARM, ARM)
    assert arb.press(pr("a", ARM + 190_000, seq=3), ARM + 195_000) == [PressRejected("a", 3, "false_start")]
    out = arb.press(pr("a", ARM + 210_000, seq=4), ARM + 215_000)
    assert isinstance(out[0], LockAll)


def test_press_captured_before_arm_arriving_after_is_false_start() -> None:
    arb = armed("a b")
    out = arb.press(pr("a", ARM - 1_000), ARM + 4_000)
    assert len(out) == 1 and isinstance(out[0], FalseStarted)
    assert arb.phase == "armed"


def test_locked_out_false_starter_not_waited_for() -> None:
    arb = Arbiter(1, {"a": None, "b": None})
    arb.press(pr("b", ARM - 1_000), ARM)
    arb.arm(ARM, ARM)
    out = arb.press(pr("a", ARM + 5_000), ARM + 10_000)
    assert decided(out).winner == "a"


def test_duplicate_ignored() -> None:
    arb = armed()
    arb.press(pr("a", ARM + 10_000, seq=4), ARM + 15_000)
    assert arb.press(pr("a", ARM + 10_000, seq=4), ARM + 16_000) == [PressRejected("a", 4, "duplicate")]
    assert arb.press(pr("zz", ARM + 10_000), ARM + 16_000) == [PressRejected("zz", 1, "not_eligible")]


def test_one_per_team_earliest_member_counts() -> None:
    arb = Arbiter(1, {"a1": "red", "a2": "red", "b1": "blue"}, ArbiterRules(one_per_team=True))
    arb.arm(ARM, ARM)
    arb.press(pr("a1", ARM + 10_000), ARM + 12_000)
    out = arb.press(pr("a2", ARM + 8_000), ARM + 13_000)  # teammate pressed earlier
    assert PressRejected("a1", 1, "team_taken") in out
    assert arb.press(pr("a1", ARM + 11_000, seq=2), ARM + 14_000) == [PressRejected("a1", 2, "team_taken")]
    d = decided(arb.press(pr("b1", ARM + 9_000), ARM + 15_000))
    assert d.winner == "a2" and [r.team for r in d.order] == ["red", "blue"]


def test_uncertain_clock_flag() -> None:
    arb = armed("a b")
    arb.press(pr("a", ARM + 10_000, trusted=False), ARM + 15_000)
    d = decided(arb.watermark("b", 1, ARM + 30_000, ARM + 31_000))
    assert "uncertain_clock" in d.flags


def test_reopen_excludes_and_accumulates() -> None:
    arb = armed()
    arb.press(pr("a", ARM + 10_000), ARM + 12_000)
    arb.watermark("b", 1, ARM + 20_000, ARM + 21_000)
    decided(arb.watermark("c", 1, ARM + 20_000, ARM + 21_000))
    t = ARM + 2_000_000
    assert arb.reopen(t, exclude={"a"}) == []
    assert arb.press(pr("a", t + 1_000, seq=2), t + 2_000) == [PressRejected("a", 2, "locked_out")]
    # a press captured while the podiums were dark is no false start in a reopened window
    assert arb.press(pr("c", t - 1_000, seq=2), t + 2_000) == [PressRejected("c", 2, "closed")]
    out = arb.press(pr("b", t + 3_000, seq=2), t + 4_000)
    assert out[0] == LockAll(1, ("c",), "b")
    d = decided(arb.watermark("c", 3, t + 9_000, t + 9_500))
    assert d.winner == "b" and d.evidence["window"] == 1 and d.evidence["excluded"] == ["a"]


def test_ranked_collects_all_in_mapped_order() -> None:
    arb = armed(mode="ranked")
    assert arb.press(pr("c", ARM + 30_000), ARM + 31_000) == []
    assert arb.press(pr("a", ARM + 50_000), ARM + 52_000) == []
    d = decided(arb.press(pr("b", ARM + 40_000), ARM + 90_000))
    assert [(r.podium, r.gap_us) for r in d.order] == [("c", 0), ("b", 10_000), ("a", 20_000)]
    # the decision latency counts from the first arrival in every mode (the console's histogram)
    assert d.evidence["first_arrival_us"] == ARM + 31_000 and d.evidence["wait_us"] == 59_000


def test_ranked_window_deadline() -> None:
    arb = armed(mode="ranked", window_us=500_000)
    assert arb.next_deadline() == ARM + 500_000
    arb.press(pr("c", ARM + 30_000), ARM + 31_000)
    assert arb.tick(ARM + 499_999) == []
    d = decided(arb.tick(ARM + 500_000))
    assert d.winner == "c" and "timeout" in d.flags


def test_window_without_presses_closes() -> None:
    arb = armed(window_us=500_000)
    assert arb.tick(ARM + 600_000) == [] and arb.phase == "closed"
    assert arb.press(pr("a", ARM + 700_000), ARM + 700_000) == [PressRejected("a", 1, "closed")]


def test_close_while_locked_decides_flagged() -> None:
    arb = armed()
    arb.press(pr("a", ARM + 10_000), ARM + 12_000)
    d = decided(arb.close(ARM + 20_000))
    assert d.winner == "a" and "closed" in d.flags


@pytest.mark.parametrize(
    "call",
    [
        lambda a: a.arm(ARM, ARM + 1),  # armed twice
        lambda a: a.reopen(ARM + 1),  # nothing decided
        lambda a: a.tick(ARM - 1),  # time backwards
        lambda a: a.press(pr("a", ARM + 10), ARM - 1),
    ],
)
def test_illegal_calls_raise_and_leave_state(call: object) -> None:
    arb = armed()
    before = (arb.phase, arb.presses, arb.next_deadline())
    with pytest.raises(ValueError):
        call(arb)  # type: ignore[operator]
    assert (arb.phase, arb.presses, arb.next_deadline()) == before


def test_rules_validated() -> None:
    with pytest.raises(ValueError, match="mode"):
        ArbiterRules(mode="fastest")
    with pytest.raises(ValueError, match="tie_rule"):
        ArbiterRules(tie_rule="coin")
    with pytest.raises(ValueError):
        ArbiterRules(false_start_us=-1)
    with pytest.raises(ValueError):
        Arbiter(1, {})


def test_lock_acknowledgement_is_a_complete_watermark() -> None:
    arb = armed()
    arb.press(pr("b", ARM + 10_000, err=900), ARM + 12_000)
    # a's acknowledgement is stamped only 300 µs after b's press: as a time it proves nothing
    assert arb.watermark("a", 4, ARM + 10_300, ARM + 12_500, err_us=900) == []
    # as the acknowledgement of this lock it does: a sent every earlier press ahead of it
    assert arb.watermark("c", 7, ARM + 10_300, ARM + 12_600, err_us=900, lock_ack=False) == []
    d = decided(
        arb.watermark("a", 5, ARM + 10_400, ARM + 12_700, err_us=900, lock_ack=True)
        + arb.watermark("c", 8, ARM + 10_400, ARM + 12_800, err_us=900, lock_ack=True)
    )
    assert d.winner == "b" and "timeout" not in d.flags
    assert d.evidence["lock_acks"] == ["a", "c"]


def test_lock_ack_before_a_lock_or_from_an_earlier_window_does_not_count() -> None:
    arb = armed()
    assert arb.watermark("a", 1, ARM + 100, ARM + 200, lock_ack=True) == []  # nothing locked yet
    arb.press(pr("b", ARM + 10_000), ARM + 12_000)
    arb.watermark("a", 2, ARM + 10_100, ARM + 12_100, err_us=900, lock_ack=True)
    d = decided(arb.watermark("c", 3, ARM + 10_100, ARM + 12_200, err_us=900, lock_ack=True))
    assert d.winner == "b"
    arb.reopen(ARM + 100_000, exclude={"b"})
    arb.press(pr("c", ARM + 150_000), ARM + 152_000)
    # a acknowledged the previous window's lock, not this one: still waiting for it
    assert arb.phase == "locked"
    assert arb.tick(ARM + 152_500) == []
    d2 = decided(arb.watermark("a", 4, ARM + 150_050, ARM + 153_000, err_us=900, lock_ack=True))
    assert d2.winner == "c"
