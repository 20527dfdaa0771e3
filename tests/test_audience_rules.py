"""The audience rules with explicit times: one test per rule in audience_rules' header."""

from __future__ import annotations

import pytest
from buzzline.adapters.audience_rules import (
    MAX_TRANSIT_US,
    AudienceBook,
    RuleError,
    SessionSigner,
    TokenBucket,
    clean_nickname,
    parse_question,
    sid_of,
)

OPEN = 10_000_000
MS = 10_000  # the question is open 10 s


def book() -> AudienceBook:
    b = AudienceBook(SessionSigner(b"k" * 32, "ABCD"), bucket_ms=250)
    b.open(1, "Largest planet?", ["Mars", "Jupiter", "Venus"], 1, OPEN, MS)
    return b


def session(b: AudienceBook, secret: str = "s" * 32, nick: str = "Ann") -> dict[str, object]:
    sid, name, tok = b.join(sid_of(secret), nick)
    return {"sid": sid, "s": secret, "n": name, "tok": tok}


def answer(
    sess: dict[str, object], choice: int = 1, tap: int = OPEN + 500_000, bound: int = 2_000, q: int = 1
):
    # a phone whose clock is 7 s behind the show's: stamp + offset is the show time
    return {"q": q, "c": choice, "s": sess["s"], "n": sess["n"], "tok": sess["tok"], "t": tap - 7_000_000,
            "o": 7_000_000, "b": bound}  # fmt: skip


def test_an_answer_inside_the_window_is_accepted_and_mapped_with_the_offset() -> None:
    b = book()
    s = session(b)
    a = b.answer(str(s["sid"]), answer(s), OPEN + 600_000)
    assert (a.tap_us, a.choice, a.nick) == (OPEN + 500_000, 1, "Ann")
    assert b.counts["accepted"] == 1


def test_a_second_answer_from_the_same_session_is_ignored_and_counted() -> None:
    b = book()
    s = session(b)
    b.answer(str(s["sid"]), answer(s, choice=1), OPEN + 600_000)
    with pytest.raises(RuleError, match="duplicate"):
        b.answer(str(s["sid"]), answer(s, choice=2), OPEN + 900_000)
    assert b.question is not None and b.question.answers[str(s["sid"])].choice == 1
    assert b.counts["duplicate"] == 1


def test_a_token_for_another_nickname_or_show_is_refused() -> None:
    b = book()
    s = session(b)
    forged = answer(s) | {"n": "Bob"}
    with pytest.raises(RuleError, match="bad_session"):
        b.answer(str(s["sid"]), forged, OPEN + 600_000)
    other = AudienceBook(SessionSigner(b"k" * 32, "WXYZ"))
    other.open(1, "Q", ["a", "b"], 0, OPEN, MS)
    with pytest.raises(RuleError, match="bad_session"):
        other.answer(str(s["sid"]), answer(s, choice=0), OPEN + 600_000)


def test_an_answer_on_another_sessions_subject_is_refused() -> None:
    """Knowing someone's token is not enough: the secret must hash to the subject's session."""
    b = book()
    mine, theirs = session(b, "a" * 32, "Ann"), session(b, "b" * 32, "Bob")
    with pytest.raises(RuleError, match="bad_session"):
        b.answer(str(theirs["sid"]), answer(mine), OPEN + 600_000)


def test_a_tap_before_the_open_or_after_the_close_beyond_its_bound_is_refused() -> None:
    b = book()
    early = session(b, "e" * 32)
    with pytest.raises(RuleError, match="outside_window"):
        b.answer(str(early["sid"]), answer(early, tap=OPEN - 5_000, bound=2_000), OPEN + 100_000)
    edge = session(b, "f" * 32)  # 1 ms early with a 2 ms bound: could have been in the window
    b.answer(str(edge["sid"]), answer(edge, tap=OPEN - 1_000, bound=2_000), OPEN + 100_000)
    late = session(b, "g" * 32)
    with pytest.raises(RuleError, match="outside_window"):
        b.answer(str(late["sid"]), answer(late, tap=OPEN + MS * 1000 + 10_000), OPEN + MS * 1000 + 20_000)


def test_a_tap_from_the_future_or_long_before_its_arrival_is_implausible() -> None:
    b = book()
    s = session(b)
    with pytest.raises(RuleError, match="implausible"):
        b.answer(str(s["sid"]), answer(s, tap=OPEN + 900_000, bound=2_000), OPEN + 800_000)
    b2 = AudienceBook(SessionSigner(b"k" * 32, "ABCD"))
    b2.open(1, "Q", ["a", "b"], 0, OPEN, 100_000)
    s2 = session(b2)
    with pytest.raises(RuleError, match="implausible"):
        b2.answer(str(s2["sid"]), answer(s2, choice=0), OPEN + 500_000 + MAX_TRANSIT_US + 1)


def test_a_closed_question_still_takes_answers_tapped_before_its_close() -> None:
    b = book()
    s = session(b)
    b.close(OPEN + 1_000_000)
    b.answer(str(s["sid"]), answer(s, tap=OPEN + 900_000), OPEN + 1_200_000)
    t = session(b, "t" * 32)
    with pytest.raises(RuleError, match="outside_window"):
        b.answer(str(t["sid"]), answer(t, tap=OPEN + 1_100_000), OPEN + 1_200_000)


def test_an_unknown_question_a_bad_choice_and_an_absurd_bound_are_refused() -> None:
    b = book()
    s = session(b)
    for body, reason in (
        (answer(s, q=2), "not_open"),
        (answer(s, choice=3), "choice"),
        (answer(s, bound=5_000_000), "bound"),
        ({"q": 1}, "malformed"),
        ("junk", "malformed"),
    ):
        with pytest.raises(RuleError, match=reason):
            b.answer(str(s["sid"]), body, OPEN + 600_000)
        b.limits.clear()  # each case on its own, not against the rate limit
    assert b.counts["accepted"] == 0


def test_scores_count_buckets_from_the_late_edge_so_a_loose_clock_never_gains() -> None:
    b = book()
    fast, loose, wrong = session(b, "a" * 32, "A"), session(b, "b" * 32, "B"), session(b, "c" * 32, "C")
    b.answer(str(fast["sid"]), answer(fast, tap=OPEN + 240_000, bound=5_000), OPEN + 300_000)
    # tapped earlier, but its bound reaches into the next bucket
    b.answer(str(loose["sid"]), answer(loose, tap=OPEN + 200_000, bound=100_000), OPEN + 300_000)
    b.answer(str(wrong["sid"]), answer(wrong, choice=0, tap=OPEN + 10_000), OPEN + 300_000)
    q = b.close(OPEN + 1_000_000)
    assert q is not None
    results = b.score(q)
    assert results["counts"] == [1, 2, 0] and results["correct"] == 1
    board = b.leaderboard()
    assert [(r["nick"], r["points"]) for r in board] == [("A", 1000), ("B", 950)]


def test_a_session_over_its_answer_rate_is_refused() -> None:
    b = AudienceBook(SessionSigner(b"k", "ABCD"), answer_rate=1.0, answer_burst=2.0)
    b.open(1, "Q", ["a", "b"], 0, OPEN, MS)
    s = session(b)
    reasons = []
    for i in range(4):
        try:
            b.answer(str(s["sid"]), answer(s, choice=0, q=9), OPEN + 600_000 + i)
        except RuleError as e:
            reasons.append(e.reason)
    assert reasons == ["not_open", "not_open", "rate", "rate"]


def test_token_bucket_refills_at_its_rate() -> None:
    t = TokenBucket(rate=2.0, burst=1.0, now_us=0)
    assert t.take(0) and not t.take(100_000) and t.take(500_000)


def test_nicknames_lose_control_characters_and_are_bounded() -> None:
    assert clean_nickname("  Ann\u0000\u202e  B\tob ") == "Ann B ob"
    assert clean_nickname("\uff21nn") == "Ann"  # full-width letters folded
    for bad, reason in (
        ("", "nick_empty"),
        ("\u0007\u200b", "nick_empty"),
        ("x" * 21, "nick_long"),
        (5, "nick_type"),
    ):
        with pytest.raises(RuleError, match=reason):
            clean_nickname(bad)


def test_join_refuses_a_session_id_that_is_no_hash() -> None:
    b = book()
    for sid in ("zz" * 10, "abc", None):
        with pytest.raises(RuleError, match="sid"):
            b.join(sid, "Ann")


def test_questions_are_parsed_with_their_right_choice() -> None:
    assert parse_question("Largest? | Mars | *Jupiter") == ("Largest?", ["Mars", "Jupiter"], 1)
    assert parse_question("Opinion? | yes | no")[2] is None
    for bad in ("No choices", "Q | only", "Q | *a | *b", "Q | a | "):
        with pytest.raises(RuleError):
            parse_question(bad)


def test_an_answer_the_stream_held_past_the_results_is_scored_when_it_comes() -> None:
    b = book()
    first, held = session(b, "a" * 32, "A"), session(b, "b" * 32, "B")
    b.answer(str(first["sid"]), answer(first, tap=OPEN + 100_000), OPEN + 200_000)
    q = b.close(OPEN + 1_000_000)
    assert q is not None
    assert b.score(q)["counts"] == [0, 1, 0]
    # tapped before the close, delivered after the results (its node died under it)
    b.answer(str(held["sid"]), answer(held, tap=OPEN + 900_000), OPEN + 4_000_000)
    assert b.results(q)["counts"] == [0, 2, 0] and b.results(q)["answers"] == 2
    assert [r["nick"] for r in b.leaderboard()] == ["A", "B"]
    assert b.score(q)["counts"] == [0, 2, 0]  # scoring again adds nothing twice
