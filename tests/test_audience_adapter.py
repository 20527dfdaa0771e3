"""The audience adapter's own logic, with its NATS connection replaced by a recorder: when a
question opens, what goes out, how requests are answered and limited, its settings' checks.
(tests/test_audience_cluster.py runs the same adapter on a real cluster.)"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

import pytest
from buzzline.adapters.api import ConfigError, Notice, Status, validate_config
from buzzline.adapters.audience import AudienceAdapter
from buzzline.adapters.audience_rules import AudienceBook, SessionSigner, sid_of


class Recorder:
    """Stands in for the NATS client: what the adapter published, in order."""

    is_connected = True
    connected_url = None

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, subject: str, data: bytes) -> None:
        self.sent.append((subject, json.loads(data)))

    def of(self, suffix: str) -> list[dict[str, Any]]:
        return [body for subject, body in self.sent if subject.endswith(suffix)]


class BookRecorder:
    """Stands in for JetStream: the records the adapter wrote to its book, in order."""

    def __init__(self) -> None:
        self.records: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, subject: str, data: bytes, timeout: float = 0) -> None:
        self.records.append((subject.rsplit(".", 1)[-1], json.loads(data)))


class Ctx:
    name = kind = "audience"
    log = logging.getLogger("test.audience")

    def __init__(self) -> None:
        self.status: tuple[Status, str] = (Status.CONNECTING, "")

    def view(self) -> dict[str, Any]:
        return {"info": {"title": "T"}}

    def set_status(self, status: Status, message: str = "") -> None:
        self.status = (status, message)


@dataclass
class Msg:
    data: bytes
    reply: str


def adapter(**settings: Any) -> tuple[AudienceAdapter, Recorder]:
    a = AudienceAdapter()
    raw = {"servers": ["nats://127.0.0.1:1"], "code": "ABCD", "settle_ms": 0} | settings
    a.config = validate_config(AudienceAdapter.CONFIG_SCHEMA, raw)
    a.ctx = Ctx()  # type: ignore[assignment]
    a.code = "ABCD"
    a.questions = [("Q1?", ["a", "b"], 1), ("Q2?", ["c", "d", "e"], None)]
    a.book = AudienceBook(SessionSigner(b"k", "ABCD"))
    rec = Recorder()
    a.nc = rec  # type: ignore[assignment]
    a._js = BookRecorder()
    return a, rec


def notice(phase: str, q: int, seq: int = 1) -> Notice:
    return Notice(seq, 0, (), {"phase": phase, "q": q, "info": {"title": "T"}})


async def test_reading_a_question_opens_the_audience_one_once_and_the_list_cycles() -> None:
    a, rec = adapter()
    await a.handle(notice("idle", 1))
    assert rec.of(".pub.q") == []
    await a.handle(notice("reading", 1))
    await a.handle(notice("armed", 1))
    await a.handle(notice("reading", 1))  # the same question read again: not reopened
    assert [q["text"] for q in rec.of(".pub.q")] == ["Q1?"]
    assert "correct" not in rec.of(".pub.q")[0]  # never the answer while open
    await a.handle(notice("reading", 3))  # the third question takes the list's first again
    assert [q["text"] for q in rec.of(".pub.q")] == ["Q1?", "Q1?"]
    # opening it closed question 1 and sent its results first
    assert [r["q"] for r in rec.of(".pub.close")] == [1] and [r["q"] for r in rec.of(".pub.results")] == [1]
    assert [s["phase"] for s in rec.of(".pub.state")] == ["idle", "reading", "armed", "reading"]


async def test_join_time_and_sync_requests_are_answered_and_limited_per_connection() -> None:
    a, rec = adapter()
    await a._on_join(Msg(json.dumps({"sid": sid_of("x"), "nick": " Zed\u0007 "}).encode(), "_INBOX.c1.1"))
    reply = rec.sent[-1]
    assert reply[0] == "_INBOX.c1.1" and reply[1]["ok"] and reply[1]["nick"] == "Zed"
    assert reply[1]["tok"] == a.book.signer.token(sid_of("x"), "Zed")  # type: ignore[union-attr]
    await a._on_join(Msg(b"not json", "_INBOX.c1.2"))
    assert rec.sent[-1][1] == {"ok": False, "reason": "malformed"}
    await a._on_sync(Msg(json.dumps({"sid": sid_of("x")}).encode(), "_INBOX.c1.3"))
    assert rec.sent[-1][1]["code"] == "ABCD" and "now_us" in rec.sent[-1][1]
    before = len(rec.sent)
    for i in range(40):  # one connection's burst: the first 20 (less the 3 above) are answered
        await a._on_time(Msg(b"{}", f"_INBOX.c1.t{i}"))
    answered = len(rec.sent) - before
    assert 15 <= answered <= 19 and a.refused_requests == 40 - answered
    await a._on_time(Msg(b"{}", "_INBOX.c2.1"))  # another connection is not held back
    assert rec.sent[-1][0] == "_INBOX.c2.1" and isinstance(rec.sent[-1][1]["t"], int)


async def test_bad_code_or_questions_are_refused_as_settings() -> None:
    for settings, field_name in (({"code": "AB1O"}, "code"), ({"questions": ["no choices"]}, "questions")):
        a = AudienceAdapter()
        config = validate_config(
            AudienceAdapter.CONFIG_SCHEMA, {"servers": ["nats://127.0.0.1:1"]} | settings
        )
        with pytest.raises(ConfigError) as e:
            await a.start(Ctx(), config)  # type: ignore[arg-type]
        assert e.value.field == field_name
    with pytest.raises(ConfigError):
        validate_config(AudienceAdapter.CONFIG_SCHEMA, {})  # servers is required


async def test_the_console_line_and_the_snapshot_count_what_happened() -> None:
    a, _ = adapter()
    await a._on_join(Msg(json.dumps({"sid": sid_of("y"), "nick": "Amy"}).encode(), "_INBOX.c9.1"))
    a.health = [
        {"url": "u1", "name": "n1", "up": True, "connections": 7},
        {"url": "u2", "name": "n2", "up": False},
    ]
    assert a.summary() == "code ABCD · 1 joined · 0.0 answers/s · nodes 1/2 up (n1 7, n2 DOWN)"
    snap = a.snapshot()
    assert (
        snap["joined"] == 1 and snap["join_url"] == "/audience/?code=ABCD" and snap["nodes"][1]["up"] is False
    )


async def test_reconfigure_in_place_keeps_sessions_and_takes_the_new_questions() -> None:
    a, _ = adapter()
    book = a.book
    new = validate_config(
        AudienceAdapter.CONFIG_SCHEMA, a.config | {"questions": ["X? | *y | z"], "bucket_ms": 500}
    )
    await a.reconfigure(new)
    assert (
        a.book is book
        and a.questions == [("X?", ["y", "z"], 0)]
        and book is not None
        and book.bucket_us == 500_000
    )
    with pytest.raises(ConfigError):
        await a.reconfigure(a.config | {"questions": ["no choices"]})


async def test_what_the_adapter_judged_goes_into_its_book_and_a_new_book_replays_it() -> None:
    a, rec = adapter()
    book = a.book
    assert book is not None
    await a.handle(notice("reading", 1))
    q = book.question
    assert q is not None
    for i, choice in enumerate((1, 1, 0)):
        secret = f"s{i}"
        sid = sid_of(secret)
        body = {"q": 1, "c": choice, "s": secret, "n": f"P{i}", "tok": book.signer.token(sid, f"P{i}")}
        body |= {"t": q.open_us + 1000, "o": 0, "b": 100}
        a._unsaved.append((1, book.row(book.answer(sid, body, q.open_us + 2000))))
    assert await a._save() and a._unsaved == []
    await a.handle(notice("reading", 2))  # closes and scores question 1
    records = a._js.records  # type: ignore[attr-defined]
    assert [k for k, _ in records] == ["open", "ans", "scored", "open"]
    assert records[0][1]["correct"] == 1 and len(records[1][1]["rows"]) == 3
    fresh = AudienceBook(SessionSigner(b"k", "ABCD"))
    for kind, body in records + records:  # replayed twice: nothing added twice
        fresh.restore(kind, body)
    assert fresh.leaderboard() == book.leaderboard() and len(fresh.leaderboard()) == 2
    assert fresh.question is not None and fresh.question.qid == 2 and not fresh.question.scored
    assert rec.of(".pub.results")[0]["board"] == book.leaderboard()
