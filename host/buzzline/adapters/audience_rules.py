"""The audience game with no I/O: sessions, questions, answers, timing checks, scores.

Time is passed in (the show clock, µs). Rules, one test each in tests/test_audience_rules.py:
- A session is ``sid = sha256(secret)[:20]``; the host signs ``code|sid|nick`` (HMAC-SHA256) at
  join. An answer carries the secret, the nickname and the token: the secret proves it comes from
  the phone that joined (no one else ever sees it: only the show may read answers), the token that
  the host let that nickname in. Nothing else about a person is kept.
- One answer per session per question: the first accepted counts, a second is ignored and counted.
- A tap is mapped to the show clock as ``stamp + offset`` with the phone's stated ``bound``. It is
  accepted when ``open - bound <= tap <= close + bound`` (inside the question's window) and
  ``tap <= arrival + bound`` (not from the future) and ``arrival - tap <= MAX_TRANSIT_US``.
- Scoring is by speed bucket, never a lockout: a correct answer's bucket is counted from its late
  edge (``tap + bound - open``) so a loose clock can never gain; buckets are ``bucket_ms`` wide,
  which the report states against the measured bound.
- Each session has a token bucket for answers; over the limit is rejected and counted.
- The book can be rebuilt from its records (`restore`): questions opened, answers accepted,
  questions scored, in the order written; a record replayed twice changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I to misread on a screen
NICK_MAX = 20
SID_LEN = 20  # hex characters of sha256(secret)
MAX_TRANSIT_US = 30_000_000  # a node's death and the stream's recovery fit well inside
MAX_BOUND_US = 2_000_000  # a phone claiming a wider bound is not measuring anything
FULL_POINTS = 1000
STEP_POINTS = 50  # lost per bucket of speed
MIN_POINTS = 500  # a correct answer in the last bucket


class RuleError(ValueError):
    """An input refused, with a short reason code (counted by reason)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def clean_nickname(raw: object) -> str:
    """The nickname as shown: normalised, no control or format characters, spaces collapsed."""
    if not isinstance(raw, str):
        raise RuleError("nick_type")
    text = unicodedata.normalize("NFKC", raw)
    kept = "".join(
        " " if ch.isspace() else ch for ch in text if ch.isspace() or unicodedata.category(ch)[0] != "C"
    )
    nick = " ".join(kept.split())
    if not nick:
        raise RuleError("nick_empty")
    if len(nick) > NICK_MAX:
        raise RuleError("nick_long")
    return nick


def sid_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:SID_LEN]


class SessionSigner:
    """Per-show tokens: the show's key signs ``code|sid|nick``."""

    def __init__(self, key: bytes, code: str) -> None:
        self.key = key
        self.code = code

    def token(self, sid: str, nick: str) -> str:
        msg = f"{self.code}|{sid}|{nick}".encode()
        return hmac.new(self.key, msg, hashlib.sha256).hexdigest()[:32]

    def valid(self, sid: str, nick: str, token: str) -> bool:
        return hmac.compare_digest(self.token(sid, nick), token)


class TokenBucket:
    """``rate`` per second with ``burst`` in hand; ``take(now_us)`` says whether one may pass."""

    __slots__ = ("burst", "level", "rate", "t_us")

    def __init__(self, rate: float, burst: float, now_us: int) -> None:
        self.rate = rate
        self.burst = burst
        self.level = burst
        self.t_us = now_us

    def take(self, now_us: int) -> bool:
        self.level = min(self.burst, self.level + (now_us - self.t_us) * self.rate / 1e6)
        self.t_us = max(self.t_us, now_us)
        if self.level >= 1.0:
            self.level -= 1.0
            return True
        return False


@dataclass(slots=True)
class Answer:
    sid: str
    nick: str
    choice: int
    tap_us: int
    bound_us: int
    arrival_us: int


@dataclass(slots=True)
class Question:
    qid: int
    text: str
    choices: tuple[str, ...]
    correct: int | None
    open_us: int
    close_us: int  # planned close; moved to the actual close when closed early
    closed: bool = False
    scored: bool = False  # results given; a later answer (tapped in time) is scored as it comes
    answers: dict[str, Answer] = field(default_factory=dict)
    counts: list[int] = field(default_factory=list)

    def public(self) -> dict[str, Any]:
        """What phones see: never the correct choice while open."""
        return {
            "q": self.qid,
            "text": self.text,
            "choices": list(self.choices),
            "open_us": self.open_us,
            "close_us": self.close_us,
            "closed": self.closed,
        }


@dataclass(slots=True)
class Player:
    nick: str
    points: int = 0
    correct: int = 0


class AudienceBook:
    """One show's audience: the open question, every answer, the scores."""

    def __init__(
        self,
        signer: SessionSigner,
        bucket_ms: int = 250,
        answer_rate: float = 2.0,
        answer_burst: float = 4.0,
    ) -> None:
        self.signer = signer
        self.bucket_us = bucket_ms * 1000
        self.answer_rate = answer_rate
        self.answer_burst = answer_burst
        self.question: Question | None = None
        self.past: dict[int, Question] = {}  # the last few closed questions, for reports
        self.players: dict[str, Player] = {}
        self.limits: dict[str, TokenBucket] = {}
        self.counts: Counter[str] = Counter()  # accepted, and each reason for a refusal
        self.joined = 0
        self.replayed: set[int] = set()  # questions opened by `restore`: each once

    # ---- sessions ----

    def join(self, secret_hash: object, nick: object) -> tuple[str, str, str]:
        """``(sid, nick, token)`` for a phone that sent ``sid`` (the hash of its secret)."""
        if not isinstance(secret_hash, str) or len(secret_hash) != SID_LEN:
            raise RuleError("sid")
        try:
            int(secret_hash, 16)
        except ValueError:
            raise RuleError("sid") from None
        name = clean_nickname(nick)
        self.joined += 1
        return secret_hash, name, self.signer.token(secret_hash, name)

    # ---- questions ----

    def open(
        self, qid: int, text: str, choices: list[str], correct: int | None, now_us: int, ms: int
    ) -> Question:
        if self.question is not None:
            self.close(now_us)
            self.past[self.question.qid] = self.question
            while len(self.past) > 20:
                del self.past[next(iter(self.past))]
        self.question = Question(qid, text, tuple(choices), correct, now_us, now_us + ms * 1000)
        return self.question

    def close(self, now_us: int) -> Question | None:
        q = self.question
        if q is None or q.closed:
            return None
        q.closed = True
        q.close_us = min(q.close_us, now_us)
        return q

    def due(self, now_us: int) -> bool:
        """The open question's time is up."""
        q = self.question
        return q is not None and not q.closed and now_us >= q.close_us

    # ---- answers ----

    def answer(self, sid: str, body: object, arrival_us: int) -> Answer:
        """Check one answer that arrived on ``ans.SID``; the accepted one is recorded."""
        try:
            a = self._check(sid, body, arrival_us)
        except RuleError as e:
            self.counts[e.reason] += 1
            raise
        self.counts["accepted"] += 1
        return a

    def _check(self, sid: str, body: object, arrival_us: int) -> Answer:
        if not isinstance(body, dict):
            raise RuleError("malformed")
        secret, nick, token = body.get("s"), body.get("n"), body.get("tok")
        if not (isinstance(secret, str) and isinstance(nick, str) and isinstance(token, str)):
            raise RuleError("malformed")
        if len(secret) > 64 or sid_of(secret) != sid or not self.signer.valid(sid, nick, token):
            raise RuleError("bad_session")
        bucket = self.limits.get(sid)
        if bucket is None:
            bucket = self.limits[sid] = TokenBucket(self.answer_rate, self.answer_burst, arrival_us)
        if not bucket.take(arrival_us):
            raise RuleError("rate")
        qid, choice = body.get("q"), body.get("c")
        stamp, offset, bound = body.get("t"), body.get("o"), body.get("b")
        if not all(
            isinstance(v, int) and not isinstance(v, bool) for v in (qid, choice, stamp, offset, bound)
        ):
            raise RuleError("malformed")
        assert isinstance(qid, int) and isinstance(choice, int)  # for mypy: checked just above
        assert isinstance(stamp, int) and isinstance(offset, int) and isinstance(bound, int)
        q = self.question
        if q is None or q.qid != qid:
            raise RuleError("not_open")
        if q.closed and arrival_us > q.close_us + MAX_TRANSIT_US:
            raise RuleError("late")
        if not 0 <= choice < len(q.choices):
            raise RuleError("choice")
        if sid in q.answers:
            raise RuleError("duplicate")
        if not 0 <= bound <= MAX_BOUND_US:
            raise RuleError("bound")
        tap = stamp + offset
        if not q.open_us - bound <= tap <= q.close_us + bound:
            raise RuleError("outside_window")
        if tap > arrival_us + bound or arrival_us - tap > MAX_TRANSIT_US:
            raise RuleError("implausible")
        a = Answer(sid, nick, choice, tap, bound, arrival_us)
        q.answers[sid] = a
        self.players.setdefault(sid, Player(nick))
        if q.scored:
            self._add(q, a)
        return a

    # ---- results ----

    def points(self, q: Question, a: Answer) -> int:
        if q.correct is None or a.choice != q.correct:
            return 0
        late_edge = max(0, a.tap_us + a.bound_us - q.open_us)
        bucket = late_edge // self.bucket_us
        return max(MIN_POINTS, FULL_POINTS - STEP_POINTS * bucket)

    def score(self, q: Question) -> dict[str, Any]:
        """Add the closed question's points to the players; the results phones and screens show.
        An answer still in the stream when the results went out (a node died under it) is added
        when it arrives, and ``results(q)`` then says so."""
        if not q.scored:
            q.scored = True
            q.counts = [0] * len(q.choices)
            for a in q.answers.values():
                self._add(q, a)
        return self.results(q)

    def results(self, q: Question) -> dict[str, Any]:
        return {"q": q.qid, "counts": list(q.counts), "correct": q.correct, "answers": len(q.answers)}

    def _add(self, q: Question, a: Answer) -> None:
        q.counts[a.choice] += 1
        pts = self.points(q, a)
        if pts:
            p = self.players[a.sid]
            p.points += pts
            p.correct += 1

    def mine(self, q: Question, sid: str) -> dict[str, Any] | None:
        a = q.answers.get(sid)
        if a is None:
            return None
        return {"c": a.choice, "points": self.points(q, a)}

    # ---- the durable record (the adapter keeps it in a replicated stream) ----

    @staticmethod
    def row(a: Answer) -> list[Any]:
        """An accepted answer as the book's records keep it."""
        return [a.sid, a.nick, a.choice, a.tap_us, a.bound_us, a.arrival_us]

    def restore(self, kind: str, body: dict[str, Any]) -> None:
        """Replay one record: ``open`` (a question, with its right choice and window), ``ans``
        (answers to question ``q`` that were accepted), ``scored`` (its results were given, with
        its close). An answer already held is skipped and a question is scored once, so points
        are never added twice; an answer recorded after its question's score is added as a late
        one is. RuleError for a record that does not fit."""
        try:
            if kind == "open":
                qid = int(body["q"])
                if qid in self.replayed:
                    return
                self.replayed.add(qid)
                opened, closes = int(body["open_us"]), int(body["close_us"])
                choices = [str(c) for c in body["choices"]]
                q = self.open(qid, str(body["text"]), choices, body.get("correct"), opened, 0)
                q.close_us = closes
            elif kind == "ans":
                held = self._known(int(body["q"]))
                for sid, nick, choice, tap, bound, arrival in body["rows"]:
                    if held is None or sid in held.answers:
                        continue
                    a = held.answers[sid] = Answer(sid, nick, int(choice), int(tap), int(bound), int(arrival))
                    self.players.setdefault(sid, Player(nick))
                    self.counts["restored"] += 1
                    if held.scored:
                        self._add(held, a)
            elif kind == "scored":
                held = self._known(int(body["q"]))
                if held is not None and not held.scored:
                    held.closed = True
                    held.close_us = int(body["close_us"])
                    self.score(held)
        except (KeyError, TypeError, ValueError) as e:
            raise RuleError("record") from e

    def _known(self, qid: int) -> Question | None:
        if self.question is not None and self.question.qid == qid:
            return self.question
        return self.past.get(qid)

    def leaderboard(self, top: int = 10) -> list[dict[str, Any]]:
        ranked = sorted(self.players.values(), key=lambda p: (-p.points, p.nick))
        return [{"nick": p.nick, "points": p.points, "correct": p.correct} for p in ranked[:top] if p.points]


def parse_question(line: str) -> tuple[str, list[str], int | None]:
    """``"Text? | A | *B | C"``: the text, 2 to 8 choices, the one marked ``*`` is correct."""
    parts = [p.strip() for p in line.split("|")]
    text, raw = parts[0], parts[1:]
    if not text or not 2 <= len(raw) <= 8 or not all(raw):
        raise RuleError("a question is 'text | choice | *right choice | ...' with 2 to 8 choices")
    marked = [i for i, c in enumerate(raw) if c.startswith("*")]
    if len(marked) > 1:
        raise RuleError("at most one choice is marked * (the right one)")
    choices = [c.removeprefix("*").strip() for c in raw]
    return text, choices, (marked[0] if marked else None)


def new_code(n: int = 6) -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(n))


def valid_code(code: str) -> bool:
    return 4 <= len(code) <= 12 and all(c in CODE_ALPHABET for c in code)
