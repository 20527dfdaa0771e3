"""The completeness-based wait: per-podium caps, provisional decisions, overturns, and end-to-end
completeness from lock acknowledgements (``fp``/``np``, sequence gaps)."""

from __future__ import annotations

from buzzline.core.arbiter import Arbiter, ArbiterRules
from buzzline.core.clock import capture_bound_us, with_capture
from buzzline.core.delays import DelayBook
from buzzline.core.types import Decided, Decision, Mapping, Overturned, Press, PressRejected

ARM = 1_000_000


def pr(podium: str, mapped: int, seq: int = 1, err: int = 200) -> Press:
    return Press(podium, seq, mapped - 5_000_000, mapped, err, mapped + 5_000)


def armed(podiums: str = "a b c", caps: dict[str, int] | None = None, **rules: object) -> Arbiter:
    r = ArbiterRules(**rules)  # type: ignore[arg-type]
    arb = Arbiter(epoch=1, eligible=dict.fromkeys(podiums.split()), rules=r, seed=3, wait_caps=caps)
    arb.arm(ARM, ARM)
    return arb


def decided(effects: list[object]) -> Decision:
    ds = [e for e in effects if isinstance(e, Decided)]
    assert len(ds) == 1, effects
    return ds[0].decision


def test_wait_ends_at_the_slowest_missing_podiums_cap() -> None:
    arb = armed(caps={"b": 30_000, "c": 60_000})
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    # b could still beat a until a's latest time (10_200) + b's cap; c likewise with its own
    assert arb.next_deadline() == ARM + 10_200 + 60_000
    arb.watermark("c", 1, ARM + 20_000, ARM + 25_000, lock_ack=True)
    assert arb.next_deadline() == ARM + 10_200 + 30_000
    assert arb.tick(ARM + 40_199) == []
    d = decided(arb.tick(ARM + 40_200))
    assert d.winner == "a" and {"timeout", "provisional"} <= d.flags
    assert d.evidence["wait_caps"] == {"b": 30_000, "c": 60_000}


def test_absolute_cap_bounds_every_wait() -> None:
    arb = armed(caps={"b": 5_000_000, "c": 5_000_000}, max_wait_us=200_000)
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    assert arb.next_deadline() == ARM + 15_000 + 200_000
    # a podium with no observed delays is waited for up to the absolute cap
    arb2 = armed(caps={"b": 20_000})
    arb2.press(pr("a", ARM + 10_000), ARM + 15_000)
    assert arb2.next_deadline() == ARM + 15_000 + arb2.rules.max_wait_us


def test_earlier_press_overturns_a_provisional_call() -> None:
    arb = armed(caps={"b": 30_000, "c": 30_000})
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.watermark("c", 1, ARM + 20_000, ARM + 25_000, lock_ack=True)
    first = decided(arb.tick(ARM + 40_200))
    assert first.winner == "a"
    # b's buzz, pressed 3 ms before a's, was still in flight
    out = arb.press(pr("b", ARM + 7_000), ARM + 90_000)
    assert len(out) == 1 and isinstance(out[0], Overturned)
    assert out[0].previous == first
    new = out[0].decision
    assert new.winner == "b" and "overturned" in new.flags and "provisional" in new.flags
    assert new.evidence["overturned"] == {"winner": "a", "tied": [], "decided_us": ARM + 40_200}
    assert arb.decision == new
    # every podium accounted for: final; nothing overturns it again
    assert not arb.provisional
    assert arb.press(pr("c", ARM + 1_000, seq=2), ARM + 95_000) == [PressRejected("c", 2, "late")]


def test_press_that_only_ties_also_overturns() -> None:
    arb = armed("a b", caps={"b": 10_000})
    arb.press(pr("a", ARM + 10_000, err=300), ARM + 15_000)
    first = decided(arb.tick(ARM + 20_300))
    out = arb.press(pr("b", ARM + 9_800, err=300), ARM + 60_000)
    assert isinstance(out[0], Overturned) and out[0].decision.tied == ("b", "a")
    assert first.tied == ()


def test_close_settles_a_provisional_decision() -> None:
    arb = armed(caps={"b": 10_000, "c": 10_000})
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    decided(arb.tick(ARM + 20_200))
    arb.close(ARM + 500_000)  # the answer was judged
    assert arb.press(pr("b", ARM + 5_000), ARM + 600_000) == [PressRejected("b", 1, "closed")]


def test_open_gap_is_not_complete_until_an_ack_covers_it() -> None:
    arb = armed("a b")
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    # b's messages before seq 9 went missing: its heartbeat far past a does not complete it
    assert arb.watermark("b", 9, ARM + 900_000, ARM + 20_000, gap=True) == []
    # an ack that declares no press this epoch covers the gap
    d = decided(arb.watermark("b", 10, ARM + 20_000, ARM + 30_000, lock_ack=True, np=0))
    assert d.winner == "a" and "timeout" not in d.flags


def test_ack_without_declaration_does_not_cover_a_gap() -> None:
    arb = armed("a b", caps={"b": 10_000})
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.watermark("b", 9, ARM + 12_000, ARM + 16_000, gap=True)
    assert arb.watermark("b", 10, ARM + 20_000, ARM + 25_000, lock_ack=True) == []
    assert arb.next_deadline() == ARM + 20_200
    d = decided(arb.tick(ARM + 30_000))
    assert {"timeout", "provisional", "gap_open"} <= d.flags and d.evidence["gap_open"] == ["b"]


def test_lost_buzz_is_recovered_from_the_ack() -> None:
    arb = armed("a b")
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    # b pressed first; the broker acknowledged its buzz and lost it; its ack declares it
    fp = pr("b", ARM + 8_000, seq=11)
    d = decided(arb.watermark("b", 11, ARM + 20_000, ARM + 30_000, lock_ack=True, fp=fp, np=1, gap=True))
    assert d.winner == "b" and d.evidence["recovered"] == ["b"] and "timeout" not in d.flags
    # the buzz itself turning up late changes nothing
    assert arb.press(pr("b", ARM + 8_000, seq=10), ARM + 40_000) == [PressRejected("b", 10, "late")]


def test_declared_press_already_received_is_not_counted_twice() -> None:
    arb = armed("a b c")
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    arb.press(pr("b", ARM + 12_000, seq=4), ARM + 16_000)
    fp = pr("b", ARM + 12_000, seq=5)  # the same press (same podium time), declared by the ack
    assert arb.watermark("b", 5, ARM + 20_000, ARM + 25_000, lock_ack=True, fp=fp, np=1) == []
    d = decided(arb.watermark("c", 5, ARM + 20_000, ARM + 30_000, lock_ack=True, np=0))
    assert [r.podium for r in d.order] == ["a", "b"] and d.evidence["recovered"] == []


def test_more_presses_declared_than_received_opens_a_gap() -> None:
    arb = Arbiter(1, dict.fromkeys(["a", "b"]), ArbiterRules(false_start_us=1_000), wait_caps={"b": 10_000})
    arb.press(pr("b", ARM - 400_000, seq=3), ARM - 395_000)  # a false start while reading
    arb.arm(ARM, ARM)
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    # it declares 2 presses, the earliest being the false start: one press is still missing
    fs = pr("b", ARM - 400_000, seq=12)
    assert arb.watermark("b", 12, ARM + 20_000, ARM + 25_000, lock_ack=True, fp=fs, np=2) == []
    d = decided(arb.tick(ARM + 30_000))
    assert "gap_open" in d.flags


def test_false_start_declared_in_ack_is_not_penalised_again() -> None:
    arb = armed("a b")
    arb.press(pr("a", ARM + 10_000), ARM + 15_000)
    fs = pr("b", ARM - 100_000, seq=12)
    d = decided(arb.watermark("b", 12, ARM + 20_000, ARM + 25_000, lock_ack=True, fp=fs, np=1))
    assert d.winner == "a" and arb.locked_until("b") is None


def test_delay_book_caps_follow_observed_delays() -> None:
    book = DelayBook()
    for i in range(book.MIN_SAMPLES - 1):
        book.note("p1", 1_000_000 * i, 100, 1_000_000 * i + 5_000)
    assert book.cap_us("p1") is None and book.caps() == {}
    book.note("p1", 99_000_000, 100, 99_000_000 + 40_000)  # one slow message
    cap = book.cap_us("p1")
    assert cap is not None and cap >= 40_000 * book.FACTOR
    book.note("p2", 0, book.MAX_ERR_US + 1, 10)  # an untrusted mapping says nothing
    assert "p2" not in book.caps()


def test_capture_tail_inside_gap_is_a_tie_not_a_wrong_winner() -> None:
    """An ESP32 pressed 3 ms before a Pico W, but a GC pass stamped its press 5 ms late."""
    clock = Mapping(0, 200)  # both clocks mapped to ± 200 µs
    esp_cap, pico_cap = capture_bound_us("esp32", [60, 8_000]), capture_bound_us("picow", [30, 100])
    esp = with_capture(Mapping(ARM + 10_000 + 5_000, clock.err_us), esp_cap)
    pico = with_capture(Mapping(ARM + 13_000 + 30, clock.err_us), pico_cap)
    arb = armed("e p")
    arb.press(Press("p", 1, 0, pico.host_us, pico.err_us, ARM + 20_000, cap_us=50), ARM + 20_000)
    d = decided(
        arb.press(Press("e", 1, 0, esp.host_us, esp.err_us, ARM + 21_000, cap_us=4_000), ARM + 21_000)
    )
    assert d.is_tie and set(d.tied) == {"e", "p"}
    assert d.evidence["presses"][0]["cap_us"] in (50, 4_000)  # type: ignore[index]
    # without the capture bound the Pico W would have been named, wrongly
    arb2 = armed("e p")
    arb2.press(Press("p", 1, 0, ARM + 13_030, 200, ARM + 20_000), ARM + 20_000)
    d2 = decided(arb2.press(Press("e", 1, 0, ARM + 15_000, 200, ARM + 21_000), ARM + 21_000))
    assert d2.winner == "p" and not d2.is_tie
