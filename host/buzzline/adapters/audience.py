"""The audience adapter: the show's notices out to a NATS cluster, the phones' answers in.

Subjects, for a show with join code CODE (docs/audience.md has the payloads):
  aud.CODE.pub.state|q|close|results   the show's public news (core NATS fan-out to every phone)
  aud.CODE.join|time|sync              requests the adapter answers: a session, the show clock, now
  aud.CODE.ans.SID                     answers, stored in the replicated JetStream stream AUD_CODE
The adapter reads answers through the durable pull consumer ``show`` and acks each after the
rules (`audience_rules`) have judged it, so a node's death or the adapter's own restart loses
none, and a redelivery is judged a duplicate, never counted twice. What it judged is kept in a
second replicated stream, the book ``AUD_CODE_BOOK`` (``aud.CODE.book.*``: the session key,
each question opened, the answers accepted, each question scored), written before the answers
are acknowledged; an adapter that starts replays it, so a restart keeps the leaderboard and
the open question, and adds nothing twice. Its own tasks (answers, the
question clock, node health) run beside the notice stream; none of them is awaited by the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
from collections import deque
from typing import Any

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    StorageType,
    StreamConfig,
)

from buzzline.adapters import audience_screens
from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Notice, Status
from buzzline.adapters.audience_cluster import node_health
from buzzline.adapters.audience_rules import (
    CODE_ALPHABET,
    AudienceBook,
    Question,
    RuleError,
    SessionSigner,
    TokenBucket,
    new_code,
    parse_question,
    valid_code,
)

REQUEST_RATE = 5.0  # join, time and sync requests per second per connection...
REQUEST_BURST = 20.0  # ...with a clock sync's burst of exchanges in hand
HEALTH_EVERY_S = 2.0
# settings that change where the adapter connects or what signs sessions: a new start
CONNECTION_SETTINGS = ("servers", "user", "password", "code", "key", "replicas")
TICK_S = 0.02  # how often the question clock is looked at
DRAIN_CAP_S = 4.0  # the longest results wait for answers still in the stream
FETCH_BATCH = 256
JUDGE_SLICE = 32  # answers judged between yields to the loop (about a millisecond's work)
ACK_WAIT_S = 1.5  # a batch is judged in milliseconds; an unacknowledged one was lost with a node
BOOK_CHUNK = 6000  # bytes of answers per book record: the cluster's max_payload is 8 KB
BOOK_RETRY_S = 5.0  # how long a book record is retried (no stream leader for a moment)
STREAM_MAX_AGE_S = 6 * 3600.0

# The adapters running in this process, by join code: the host's web pages read them.
LIVE: dict[str, AudienceAdapter] = {}


def show_clock_us() -> int:
    """The audience's show clock: monotonic, the same in every process on one machine."""
    return time.monotonic_ns() // 1000


class AudienceAdapter(Adapter):
    KIND = "audience"
    TITLE = "Audience play-along on a NATS cluster (phones join by code and answer)"
    CONFIG_SCHEMA = (
        Field("servers", "list", required=True, help="the show's NATS URLs, e.g. nats://host:4222"),
        Field("user", "str", default="show", help="the show's NATS user"),
        Field("password", "str", default="", help="its password (cluster.json has it)"),
        Field("code", "str", default="", help="join code, 4-12 of A-Z 2-9 (default: a new one)"),
        Field("key", "str", default="", help="secret that signs sessions (default: a new one)"),
        Field("replicas", "int", default=3, min=1, max=5, help="copies of the answer stream"),
        Field("questions", "list", default=[], help="'text | choice | *right | ...' per question"),
        Field("window_s", "float", default=15.0, min=1.0, max=600.0, help="how long a question is open"),
        Field("bucket_ms", "int", default=250, min=10, max=10000, help="speed bucket width"),
        Field("settle_ms", "int", default=300, min=0, max=5000, help="wait after the close for answers"),
        Field("ws_urls", "list", default=[], help="WebSocket URLs phones connect to"),
        Field("join_url", "str", default="", help="the phone page's address (shown as a QR code)"),
        Field("monitor", "list", default=[], help="nodes' monitoring URLs, for health per node"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.nc: NatsClient | None = None
        self.book: AudienceBook | None = None
        self.code = ""
        self.title = ""
        self.phase = ""
        self.questions: list[tuple[str, list[str], int | None]] = []
        self.results: dict[str, Any] | None = None
        self.last_question: Question | None = None
        self.health: list[dict[str, Any]] = []
        self.requests: dict[str, TokenBucket] = {}
        self.refused_requests = 0
        self.close_to_results_ms: list[float] = []
        self.final_results_ms: dict[int, float] = {}  # question -> its latest results, after its close
        self.accepted_at: deque[int] = deque(maxlen=100_000)
        self.opened: set[int] = set()
        self._subs: list[Any] = []
        self._psub: Any = None
        self._js: Any = None
        self._unsaved: list[tuple[int, list[Any]]] = []  # accepted, not yet in the book
        self._drained = asyncio.Event()

    # ---- lifecycle ----

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        self.code = config["code"] or new_code()
        if not valid_code(self.code):
            raise ConfigError("code", f"{self.code!r}: use 4 to 12 of {CODE_ALPHABET}")
        self.questions = _questions(config)
        self.title = str(ctx.view().get("info", {}).get("title", ""))
        ctx.set_status(Status.CONNECTING, f"code {self.code}")
        self.nc = await nats.connect(
            servers=config["servers"],
            user=config["user"],
            password=config["password"] or None,
            name=f"buzzline-audience-{self.code}",
            allow_reconnect=True,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.25,
            connect_timeout=2,
            disconnected_cb=self._down,
            reconnected_cb=self._up,
            error_cb=self._error,
        )
        await self._ensure_stream()
        await self._restore(config["key"].encode())
        p = f"aud.{self.code}."
        self._subs = [
            await self.nc.subscribe(p + "join", cb=self._on_join),
            await self.nc.subscribe(p + "time", cb=self._on_time),
            await self.nc.subscribe(p + "sync", cb=self._on_sync),
        ]
        LIVE[self.code] = self
        ctx.set_status(Status.OK, f"code {self.code}")
        await self._publish("state", self._state())

    async def _ensure_stream(self) -> None:
        assert self.nc is not None
        js = self.nc.jetstream(timeout=10)
        stream = f"AUD_{self.code}"
        cfg = StreamConfig(
            name=stream,
            subjects=[f"aud.{self.code}.ans.*"],
            num_replicas=self.config["replicas"],
            storage=StorageType.FILE,
            duplicate_window=120.0,  # a phone's resend after a failover carries the same Nats-Msg-Id
            max_msgs_per_subject=64,  # one session's flood only ever overwrites itself
            discard=DiscardPolicy.OLD,
            max_age=STREAM_MAX_AGE_S,
        )
        book = StreamConfig(
            name=f"AUD_{self.code}_BOOK",
            subjects=[f"aud.{self.code}.book.*"],  # the audience's account may not touch it
            num_replicas=self.config["replicas"],
            storage=StorageType.FILE,
            max_age=STREAM_MAX_AGE_S,
        )
        for c in (cfg, book):
            try:
                await js.add_stream(c)
            except nats.js.errors.BadRequestError:
                await js.update_stream(c)
        self._js = js
        # an answer handed to a fetch whose node then died comes again after ack_wait: short, so
        # the results after a node's death wait seconds, not the default half minute
        # each answer acknowledged on its own: acknowledging "all up to here" would also take the
        # answers an earlier fetch lost with a node or a killed adapter, before they came again
        consumer = ConsumerConfig(ack_policy=AckPolicy.EXPLICIT, ack_wait=ACK_WAIT_S, max_ack_pending=50_000)
        self._psub = await js.pull_subscribe(
            f"aud.{self.code}.ans.*", durable="show", stream=stream, config=consumer
        )

    async def _restore(self, key: bytes) -> None:
        """The book as the last adapter left it: its records replayed in order."""
        records = await self._read_book()
        kept = next((bytes.fromhex(b["key"]) for kind, b in records if kind == "key" and "key" in b), None)
        if not key:
            key = kept or secrets.token_bytes(32)  # sessions stay valid across a restart
            if kept is None:
                await self._record("key", {"key": key.hex()})
        self.book = AudienceBook(SessionSigner(key, self.code), bucket_ms=self.config["bucket_ms"])
        for kind, body in records:
            if kind == "key":
                continue
            try:
                self.book.restore(kind, body)
            except RuleError:
                self.ctx.log.warning("audience: a book record %s that does not fit: skipped", kind)
                continue
            if kind == "open":
                self.opened.add(int(body["q"]))
        q = self.last_question = self.book.question
        if q is not None and q.scored:
            self.results = self._results(q)
        if records:
            n = self.book.counts["restored"]
            self.ctx.log.info("audience: book restored: %d questions, %d answers", len(self.opened), n)

    async def _read_book(self) -> list[tuple[str, dict[str, Any]]]:
        """Every record of the book, oldest first (an ephemeral consumer, nothing acknowledged)."""
        config = ConsumerConfig(
            ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL, inactive_threshold=30.0
        )
        sub = await self._js.pull_subscribe(
            f"aud.{self.code}.book.*", stream=f"AUD_{self.code}_BOOK", config=config
        )
        records: list[tuple[str, dict[str, Any]]] = []
        try:
            pending = (await sub.consumer_info()).num_pending
            while pending > 0:
                msgs = await sub.fetch(batch=min(256, pending), timeout=5.0)
                for m in msgs:
                    with contextlib.suppress(ValueError):
                        records.append((m.subject.rsplit(".", 1)[-1], json.loads(m.data)))
                pending -= len(msgs)
        finally:
            with contextlib.suppress(Exception):
                await sub.unsubscribe()
        return records

    async def _record(self, kind: str, body: dict[str, Any]) -> bool:
        """One record into the book; retried while the stream has no leader (bounded)."""
        deadline = time.monotonic() + BOOK_RETRY_S
        data = json.dumps(body, separators=(",", ":")).encode()
        while True:
            try:
                await self._js.publish(f"aud.{self.code}.book.{kind}", data, timeout=2.0)
                return True
            except (nats.errors.Error, TimeoutError) as e:
                _still_running()
                if time.monotonic() > deadline:
                    self.ctx.log.warning("audience: the book did not take %s: %s", kind, e)
                    return False
                await asyncio.sleep(0.1)

    async def _save(self) -> bool:
        """The accepted answers not yet in the book, in records of at most BOOK_CHUNK bytes."""
        while self._unsaved:
            qid = self._unsaved[0][0]
            rows: list[list[Any]] = []
            size = 0
            for q, row in self._unsaved:
                if q != qid or size > BOOK_CHUNK:
                    break
                rows.append(row)
                size += len(json.dumps(row)) + 1
            if not await self._record("ans", {"q": qid, "rows": rows}):
                return False
            del self._unsaved[: len(rows)]
        return True

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """In place, keeping sessions and scores; a new connection only when where or who changes."""
        if any(config[k] != self.config[k] for k in CONNECTION_SETTINGS):
            await self.stop()
            await self.start(self.ctx, config)
            return
        self.questions = _questions(config)
        if self.book is not None:
            self.book.bucket_us = config["bucket_ms"] * 1000
        self.config = config

    async def run(self) -> None:
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self._notices(), name="audience-notices")
            tg.create_task(self._answers(), name="audience-answers")
            tg.create_task(self._clock(), name="audience-clock")
            tg.create_task(self._health(), name="audience-health")

    async def stop(self) -> None:
        if LIVE.get(self.code) is self:
            del LIVE[self.code]
            audience_screens.tell({"code": self.code, "gone": True})
        if self.nc is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.nc.close(), 2.0)
            self.nc = None

    async def _down(self) -> None:
        self.ctx.set_status(Status.CONNECTING, f"code {self.code}: reconnecting to the cluster")

    async def _up(self) -> None:
        url = self.nc.connected_url.netloc if self.nc and self.nc.connected_url else "?"
        self.ctx.set_status(Status.OK, f"code {self.code} via {url}")

    async def _error(self, e: Exception) -> None:
        self.ctx.log.warning("audience cluster: %s", e)

    # ---- the show's news out ----

    async def _notices(self) -> None:
        async for notice in self.ctx.notices():
            await self.handle(notice)

    async def handle(self, notice: Notice) -> None:
        view = notice.view
        phase = str(view.get("phase", ""))
        title = str(view.get("info", {}).get("title", self.title))
        if (phase, title) != (self.phase, self.title):
            self.phase, self.title = phase, title
            await self._publish("state", self._state())
        # the audience's question opens as the host reads the show's question, once per question
        q = view.get("q")
        if phase == "reading" and isinstance(q, int) and q not in self.opened and self.questions:
            self.opened.add(q)
            text, choices, correct = self.questions[(q - 1) % len(self.questions)]
            await self.open_question(q, text, choices, correct)

    def _state(self) -> dict[str, Any]:
        return {"code": self.code, "title": self.title, "phase": self.phase}

    async def open_question(self, qid: int, text: str, choices: list[str], correct: int | None) -> None:
        """Open a question now for ``window_s`` (closing the one before with its results)."""
        assert self.book is not None
        await self.close_question()
        q = self.book.open(qid, text, choices, correct, show_clock_us(), int(self.config["window_s"] * 1000))
        self.last_question = q  # results stay: the last ones until this question's
        # in the book before any phone hears of it: a restarted adapter knows every question
        # answered (the price: one replicated write before the fan-out, seconds while the book
        # has no leader, when answers could not be stored either)
        await self._record("open", q.public() | {"correct": correct})
        await self._publish("q", q.public() | {"sent_us": show_clock_us()})

    async def close_question(self) -> dict[str, Any] | None:
        """Close the open question; once the stream has given up its answers, publish results."""
        assert self.book is not None
        began = show_clock_us()
        q = self.book.close(began)
        if q is None:
            return None
        await self._publish("close", {"q": q.qid, "close_us": q.close_us})
        await asyncio.sleep(self.config["settle_ms"] / 1000)
        await self._drain()
        await self._save()
        await self._record("scored", {"q": q.qid, "close_us": q.close_us})
        self.book.score(q)
        results = await self._publish_results(q)
        self.close_to_results_ms.append((show_clock_us() - began) / 1000)
        return results

    def _results(self, q: Question) -> dict[str, Any]:
        assert self.book is not None
        return self.book.results(q) | {
            "question": q.public(),  # a screen that joined after the question opened can label the spread
            "board": self.book.leaderboard(),
            "players": len(self.book.players),
            "sent_us": show_clock_us(),
        }

    async def _publish_results(self, q: Question) -> dict[str, Any]:
        results = self.results = self._results(q)
        self.final_results_ms[q.qid] = (show_clock_us() - q.close_us) / 1000
        await self._publish("results", results)
        return results

    async def _drain(self) -> None:
        """Until the consumer has nothing pending or unacknowledged (bounded)."""
        deadline = time.monotonic() + DRAIN_CAP_S
        while time.monotonic() < deadline and self._psub is not None:
            try:
                # bounded: while a new stream leader is elected the API may not answer at all
                info = await asyncio.wait_for(self._psub.consumer_info(), 0.5)
                if info.num_pending == 0 and info.num_ack_pending == 0:
                    return
            except (nats.errors.Error, TimeoutError):
                pass
            await asyncio.sleep(0.02)
        self.ctx.log.warning("audience: results published with answers still in the stream")

    async def _publish(self, what: str, body: dict[str, Any]) -> None:
        if LIVE.get(self.code) is self:
            audience_screens.tell(self.screen())
        if self.nc is None:
            return
        with contextlib.suppress(nats.errors.Error):
            await self.nc.publish(f"aud.{self.code}.pub.{what}", json.dumps(body).encode())

    def screen(self) -> dict[str, Any]:
        """What the viewer and the overlay show: the code and join link, the question, its
        results and the leaderboard's top (the scene model turns it into pixels)."""
        book = self.book
        return {
            "code": self.code,
            "title": self.title,
            "join_url": self.join_link(),
            "players": len(book.players) if book else 0,
            "joined": book.joined if book else 0,
            "question": self.last_question.public() if self.last_question else None,
            "results": self.results,
            "board": book.leaderboard() if book else [],
        }

    async def _clock(self) -> None:
        assert self.book is not None
        ticks = 0
        while True:
            await asyncio.sleep(TICK_S)
            if self.book.due(show_clock_us()):
                await self.close_question()
            ticks += 1
            if ticks % 250 == 0 and self.nc is not None and self.nc.is_connected:
                self.ctx.set_status(Status.OK, self.summary())

    # ---- answers in ----

    async def _answers(self) -> None:
        assert self.book is not None
        while True:
            try:
                msgs = await self._psub.fetch(batch=FETCH_BATCH, timeout=1.0)
            except (nats.errors.Error, TimeoutError) as e:
                _still_running()  # the client may turn a cancellation into a timeout
                if not isinstance(e, nats.errors.TimeoutError | TimeoutError):
                    self.ctx.log.debug("audience: fetch: %s", e)
                    await asyncio.sleep(0.1)
                continue
            late = False
            for i, m in enumerate(msgs):
                if i % JUDGE_SLICE == JUDGE_SLICE - 1:
                    await asyncio.sleep(0)  # in the host, the podium path gets the loop between slices
                now = show_clock_us()
                sid = m.subject.rsplit(".", 1)[-1]
                try:
                    body = json.loads(m.data)
                except ValueError:
                    body = None
                try:
                    a = self.book.answer(sid, body, now)
                    self.accepted_at.append(now)
                    self._unsaved.append((body["q"], self.book.row(a)))
                    late = late or bool(self.book.question and self.book.question.scored)
                except RuleError:
                    pass
            # what was judged goes into the book before its answers are acknowledged: a batch
            # whose record failed stays unacknowledged (comes again, is judged a duplicate) and
            # its answers wait in _unsaved for the next try
            if not await self._save():
                continue
            if late and self.book.question is not None:
                # answers the stream held back past the results (a node died under them)
                self.book.counts["after_results"] += 1
                await self._publish_results(self.book.question)
            for i, m in enumerate(msgs):
                if i % JUDGE_SLICE == JUDGE_SLICE - 1:
                    await asyncio.sleep(0)
                with contextlib.suppress(nats.errors.Error):
                    await m.ack()

    # ---- requests phones make ----

    def _allowed(self, msg: Msg) -> bool:
        """Per connection: the reply inbox's prefix is one connection's own."""
        parts = msg.reply.split(".")
        if len(parts) < 3:
            return False
        key = parts[1]
        now = show_clock_us()
        bucket = self.requests.get(key)
        if bucket is None:
            if len(self.requests) > 200_000:
                self.requests.clear()  # a flood of made-up inboxes: forget, rather than grow
            bucket = self.requests[key] = TokenBucket(REQUEST_RATE, REQUEST_BURST, now)
        if bucket.take(now):
            return True
        self.refused_requests += 1
        return False

    async def _reply(self, msg: Msg, body: dict[str, Any]) -> None:
        if self.nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.nc.publish(msg.reply, json.dumps(body).encode())

    async def _on_time(self, msg: Msg) -> None:
        if msg.reply and self._allowed(msg) and self.nc is not None:
            with contextlib.suppress(nats.errors.Error):
                await self.nc.publish(msg.reply, b'{"t":%d}' % show_clock_us())

    async def _on_join(self, msg: Msg) -> None:
        if not msg.reply or not self._allowed(msg) or self.book is None:
            return
        try:
            body = json.loads(msg.data)
            if not isinstance(body, dict):
                raise RuleError("malformed")
            sid, nick, token = self.book.join(body.get("sid"), body.get("nick"))
        except (ValueError, RuleError) as e:
            reason = e.reason if isinstance(e, RuleError) else "malformed"
            self.book.counts["join_" + reason] += 1
            await self._reply(msg, {"ok": False, "reason": reason})
            return
        await self._reply(msg, {"ok": True, "sid": sid, "nick": nick, "tok": token} | self._state())

    async def _on_sync(self, msg: Msg) -> None:
        if not msg.reply or not self._allowed(msg) or self.book is None:
            return
        out: dict[str, Any] = self._state() | {"now_us": show_clock_us()}
        if self.last_question is not None:
            out["question"] = self.last_question.public()
        if self.results is not None:
            out["results"] = self.results
        with contextlib.suppress(ValueError):
            sid = json.loads(msg.data).get("sid")
            if isinstance(sid, str) and self.last_question is not None:
                out["mine"] = self.book.mine(self.last_question, sid)
                player = self.book.players.get(sid)
                out["points"] = player.points if player else 0
        await self._reply(msg, out)

    # ---- health and figures ----

    async def _health(self) -> None:
        names: dict[str, str] = {}  # a node that is down still goes by its name
        while True:
            if not self.config["monitor"]:
                await asyncio.sleep(HEALTH_EVERY_S)
                continue
            rows = await asyncio.to_thread(node_health, list(self.config["monitor"]))
            own = self._node_name()
            for row in rows:
                if row["up"]:
                    names[row["url"]] = row["name"]
                    # the phones: every client but this adapter's own connection (the screens
                    # follow the show in the host, not on the cluster)
                    row["phones"] = max(0, row["connections"] - (row["name"] == own))
                else:
                    row["name"] = names.get(row["url"], row["url"])
            self.health = rows
            await asyncio.sleep(HEALTH_EVERY_S)

    def _node_name(self) -> str:
        """The node this adapter is connected to (its INFO's server_name)."""
        nc = self.nc
        info = getattr(nc, "_server_info", None) if nc is not None and nc.is_connected else None
        return str(info.get("server_name", "")) if isinstance(info, dict) else ""

    def summary(self) -> str:
        """One line for the console's adapter list: the code, counts, rate and node health."""
        book = self.book
        parts = [f"code {self.code}", f"{book.joined if book else 0} joined"]
        now = show_clock_us()
        recent = sum(1 for t in self.accepted_at if now - t < 10_000_000)
        parts.append(f"{recent / 10:.1f} answers/s")
        if self.health:
            up = sum(1 for row in self.health if row["up"])
            nodes = ", ".join(
                f"{row.get('name', '?')} {row['connections']}"
                if row["up"]
                else f"{row.get('name', '?')} DOWN"
                for row in self.health
            )
            parts.append(f"nodes {up}/{len(self.health)} up ({nodes})")
        return " · ".join(parts)

    def snapshot(self) -> dict[str, Any]:
        """Counts for the console and /metrics."""
        book = self.book
        now = show_clock_us()
        recent = sum(1 for t in self.accepted_at if now - t < 10_000_000)
        return {
            "phones": sum(int(row.get("phones", 0)) for row in self.health if row["up"]),
            "spread": self.spread(),
            "code": self.code,
            "title": self.title,
            "join_url": self.join_link(),
            "joined": book.joined if book else 0,
            "players": len(book.players) if book else 0,
            "answers": dict(book.counts) if book else {},
            "answer_rate": recent / 10.0,
            "refused_requests": self.refused_requests,
            "question": self.last_question.public() if self.last_question else None,
            "results": self.results,
            "board": book.leaderboard() if book else [],
            "close_to_results_ms": self.close_to_results_ms[-1] if self.close_to_results_ms else None,
            "nodes": self.health,
            "connected": bool(self.nc and self.nc.is_connected),
        }

    def spread(self) -> dict[str, Any] | None:
        """The current question's answers by choice, live while it is open (for the operator:
        phones and screens see the spread only with the results)."""
        q = self.last_question
        if q is None:
            return None
        counts = [0] * len(q.choices)
        for a in q.answers.values():
            counts[a.choice] += 1
        return {
            "q": q.qid,
            "text": q.text,
            "choices": list(q.choices),
            "counts": counts,
            "answers": len(q.answers),
            "correct": q.correct,
            "closed": q.closed,
            "scored": q.scored,
        }

    def join_link(self) -> str:
        """The ``join_url`` setting, else this host's page (when its server listens), else the
        page's path (a browser resolves it against the host that served it)."""
        base = self.config.get("join_url") or audience_screens.PAGE_BASE["url"] + "/audience/"
        sep = "&" if "?" in base else "?"
        return f"{base}{sep}code={self.code}"


def _questions(config: dict[str, Any]) -> list[tuple[str, list[str], int | None]]:
    try:
        return [parse_question(line) for line in config["questions"]]
    except RuleError as e:
        raise ConfigError("questions", e.reason) from None


def _still_running() -> None:
    """Raise CancelledError if this task is being cancelled (nats-py can report a cancelled
    request as a timeout, which a retry loop would otherwise swallow)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
