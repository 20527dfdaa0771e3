"""Simulated audience members: join by code, keep a clock estimate, answer, survive a node's death.

Each member does what the phone page does, on its own `NatsLink`: join (``aud.CODE.join``), a
few clock exchanges against the show (best round trip wins; the bound is half of it), then for
each question a think time and one answer, resent with the same ``Nats-Msg-Id`` until the stream
acknowledges it (so a node that dies under it costs a resend, never an answer or a double).
A member's local clock is the show's plus a made-up offset, so the mapping is exercised.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import random
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

from buzzline.sim.natslink import LinkError, NatsLink

CLOCK_EXCHANGES = 3
RESEND_FIRST_S = 0.2  # an answer not acknowledged is sent again after this, doubling...
RESEND_MAX_S = 2.0  # ...up to this (the phone page does the same)


def show_clock_us() -> int:
    return time.monotonic_ns() // 1000


@functools.lru_cache(maxsize=16)
def _parsed(data: bytes) -> Any:
    """One parse of the show's news per process, however many members it reached (read only)."""
    return json.loads(data)


@dataclass
class MemberStats:
    # question sent -> at this phone's socket (the kernel's receive stamp): the cluster's part
    fanout_us: list[int] = field(default_factory=list)
    fanout_read_us: list[int] = field(default_factory=list)  # ...-> read by the simulator's process
    results_us: list[int] = field(default_factory=list)  # results sent -> at the socket
    results_read_us: list[int] = field(default_factory=list)
    acked: dict[int, int] = field(default_factory=dict)  # question -> choice the stream holds
    deduped: int = 0  # resends the stream recognised (not doubles: the stream kept one)
    resends: int = 0
    refused: list[str] = field(default_factory=list)
    clock_err_us: list[int] = field(default_factory=list)  # estimate minus truth, per sync
    bounds_us: list[int] = field(default_factory=list)


class AudienceMember:
    def __init__(
        self,
        urls: list[str],
        code: str,
        nick: str,
        user: str,
        password: str,
        seed: int,
        think_s: tuple[float, float] = (0.2, 2.0),
    ) -> None:
        self.code = code
        self.nick = nick
        self.rng = random.Random(seed)
        self.think_s = think_s
        self.link = NatsLink(urls, user, password, self._on_message, seed)
        self.link.on_reconnect = self._resync_soon
        self.secret = secrets.token_hex(16)
        self.sid = hashlib.sha256(self.secret.encode()).hexdigest()[:20]
        self.token = ""
        self.skew_us = self.rng.randint(-5_000_000, 5_000_000)  # this phone's clock is off
        self.offset_us = 0
        self.bound_us = 0
        self.stats = MemberStats()
        self.open: dict[str, Any] | None = None
        self.answering: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.answers = True  # False: a listener, which only measures what reaches it

    def choose(self, q: dict[str, Any]) -> int:
        return self.rng.randrange(len(q["choices"]))

    def local_us(self) -> int:
        return show_clock_us() + self.skew_us

    async def start(self) -> None:
        await self.link.start()
        self.link.subscribe(f"aud.{self.code}.pub.>")
        reply = json.loads(await self._ask("join", {"sid": self.sid, "nick": self.nick}))
        if not reply.get("ok"):
            raise LinkError(f"join refused: {reply.get('reason')}")
        self.nick, self.token = reply["nick"], reply["tok"]
        await self.sync_clock()

    async def close(self) -> None:
        for t in list(self.tasks):
            t.cancel()
        await self.link.close()

    async def _ask(self, what: str, body: dict[str, Any], timeout_s: float = 3.0) -> bytes:
        return await self.link.request(f"aud.{self.code}.{what}", json.dumps(body).encode(), timeout_s)

    async def sync_clock(self) -> None:
        """NTP-style: offset = t - (t0 + t3) / 2 from the exchange with the smallest round trip."""
        best: tuple[int, int] | None = None
        for _ in range(CLOCK_EXCHANGES):
            t0 = self.local_us()
            t = json.loads(await self._ask("time", {}))["t"]
            t3 = self.local_us()
            rtt = t3 - t0
            if best is None or rtt < best[0]:
                best = (rtt, t - (t0 + t3) // 2)
        assert best is not None
        self.bound_us = best[0] // 2 + 1
        self.offset_us = best[1]
        self.stats.clock_err_us.append(self.offset_us + self.skew_us)  # truth: offset = -skew
        self.stats.bounds_us.append(self.bound_us)

    def _spawn(self, coro: Any) -> None:
        t = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(t)
        t.add_done_callback(self.tasks.discard)

    def _on_message(self, subject: str, data: bytes) -> None:
        # received = when the bytes reached this phone's socket (a phone reads its own at once);
        # read = when this process, carrying hundreds of phones, got round to reading them
        link = self.link
        what = subject.rsplit(".", 1)[-1]
        if what == "q":
            q = _parsed(data)
            self.stats.fanout_us.append(link.kernel_us - q["sent_us"])
            self.stats.fanout_read_us.append(link.read_us - q["sent_us"])
            self.open = q
            think = self.rng.uniform(*self.think_s)
            asyncio.get_running_loop().call_later(think, self._spawn_answer, q)
        elif what == "results":
            r = _parsed(data)
            self.stats.results_us.append(link.kernel_us - r["sent_us"])
            self.stats.results_read_us.append(link.read_us - r["sent_us"])
            self.open = None
        elif what == "close":
            self.open = None

    def _spawn_answer(self, q: dict[str, Any]) -> None:
        self._spawn(self._answer(q))

    def _resync_soon(self) -> None:
        self._spawn(self._resync())

    async def _resync(self) -> None:
        """After a reconnect: what is open now; answer it if this member has not."""
        try:
            state = json.loads(await self._ask("sync", {"sid": self.sid}))
        except LinkError:
            return
        q = state.get("question")
        if q and not q.get("closed"):
            self.open = q
            self._spawn(self._answer(q))

    async def _answer(self, q: dict[str, Any]) -> None:
        qid = q["q"]
        if not self.answers or qid in self.answering or qid in self.stats.acked:
            return
        self.answering.add(qid)
        try:
            choice = self.choose(q)
            body = {
                "q": qid,
                "c": choice,
                "s": self.secret,
                "n": self.nick,
                "tok": self.token,
                "t": self.local_us(),
                "o": self.offset_us,
                "b": self.bound_us,
            }
            payload = json.dumps(body).encode()
            headers = {"Nats-Msg-Id": f"{self.sid}.{qid}"}
            subject = f"aud.{self.code}.ans.{self.sid}"
            backoff = RESEND_FIRST_S
            while True:  # until the stream holds it: the same message id makes a resend harmless
                try:
                    await self.link.wait_up()
                    ack = json.loads(await self.link.request(subject, payload, 1.5, headers))
                except (LinkError, ValueError):
                    ack = {"error": "no ack"}
                if "error" in ack:
                    # no stream leader for a moment (a node died): back off, jittered, so the
                    # crowd's resends do not bury the new leader
                    self.stats.resends += 1
                    await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.0))
                    backoff = min(backoff * 2, RESEND_MAX_S)
                    continue
                if ack.get("duplicate"):
                    self.stats.deduped += 1
                self.stats.acked[qid] = choice
                return
        finally:
            self.answering.discard(qid)


class Crowd:
    """``n`` members spread over the nodes, started a batch at a time."""

    def __init__(self, urls: list[str], code: str, n: int, user: str, password: str, seed: int = 1) -> None:
        self.members = [
            AudienceMember(urls, code, f"sim{i:04d}", user, password, seed * 100_003 + i) for i in range(n)
        ]

    async def start(self, batch: int = 100) -> None:
        for i in range(0, len(self.members), batch):
            await asyncio.gather(*(m.start() for m in self.members[i : i + batch]))

    async def close(self) -> None:
        await asyncio.gather(*(m.close() for m in self.members), return_exceptions=True)

    def all_up(self) -> bool:
        return all(m.link.up for m in self.members)

    def acked_count(self, qid: int) -> int:
        return sum(1 for m in self.members if qid in m.stats.acked)

    def acked(self, qid: int) -> dict[str, int]:
        return {m.sid: m.stats.acked[qid] for m in self.members if qid in m.stats.acked}
