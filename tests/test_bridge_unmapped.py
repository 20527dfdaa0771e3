"""The bridge holds a podium's presses and watermarks until its clock model has a sample (what a
restarted host gets from the broker before any sync), so they are never mapped with an unknown
bound that would tie them with every press; at most ``HOLD_UNMAPPED_US``."""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core.clock import UNKNOWN_ERR_US
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.gate.bridge import Bridge
from buzzline.gate.ingest import Accepted

OFFSET = 5_000_000  # host µs = podium µs + OFFSET


def up(pid: str, seq: int, kind: str, pt: int, **kw: Any) -> Accepted:
    return Accepted(pid, "up", {"t": kind, "id": pid, "b": 7, "seq": seq, "pt": pt, **kw})


def sync(pid: str, n: int, t1: int) -> Accepted:
    # a clean exchange: 100 µs each way
    prev = [n - 1, t1 - 1000, t1 - 900 + OFFSET, t1 - 890 + OFFSET, t1 - 790]
    return Accepted(pid, "sync", {"t": "sync", "id": pid, "b": 7, "n": n, "t1": t1, "prev": prev})


def timed(events: list[Any]) -> list[tuple[str, int, int]]:
    return [
        (type(e).__name__, e.seq, e.err_us)
        for e in events
        if isinstance(e, ev.PodiumPress | ev.PodiumWatermark)
    ]


def test_presses_wait_for_the_first_clock_sample_in_order() -> None:
    b = Bridge("s", GameEngine(Show.default([])), 0)
    assert timed(b.inbound(up("p1", 10, "hb", 1_000_000), 100, 100).events) == []
    assert timed(b.inbound(up("p1", 11, "buzz", 1_000_500, ep=1), 110, 110).events) == []
    out = b.inbound(sync("p1", 1, 1_002_000), 120, 120)
    got = timed(out.events)
    assert [g[:2] for g in got] == [("PodiumWatermark", 10), ("PodiumPress", 11)]
    assert all(err < UNKNOWN_ERR_US for _, _, err in got)
    press = next(e for e in out.events if isinstance(e, ev.PodiumPress))
    assert press.arrival_us == 110 and abs(press.mapped_us - (1_000_500 + OFFSET)) <= press.err_us
    # once sampled, nothing waits
    assert timed(b.inbound(up("p1", 12, "hb", 1_003_000), 130, 130).events)[0][:2] == ("PodiumWatermark", 12)


def _bare_sync(pid: str, n: int) -> Accepted:
    """A sync without a completed exchange: it gives the model no sample."""
    return Accepted(pid, "sync", {"t": "sync", "id": pid, "b": 7, "n": n, "t1": 5})


def test_the_wait_is_bounded() -> None:
    b = Bridge("s", GameEngine(Show.default([])), 0)
    hold, most = b.HOLD_UNMAPPED_US, b.HOLD_UNMAPPED_MAX_US
    b.inbound(up("p1", 0, "buzz", 1_000, ep=1), 1_000, 1_000)
    # past the hold, but the host has handled none of p1's syncs since (a stalled host): it waits
    assert timed(b.inbound(up("p2", 0, "hb", 50), 1_000 + hold, 1_000 + hold).events) == []
    # a podium that does not sync at all is fed at the latest after the longest wait, unknown
    t = 1_000 + most
    got = timed(b.inbound(up("p2", 1, "hb", 60), t, t).events)
    assert [(k, seq) for k, seq, err in got if err >= UNKNOWN_ERR_US] == [
        ("PodiumPress", 0)
    ]  # honestly unknown


def test_a_syncing_podium_without_a_fit_is_fed_after_the_hold() -> None:
    b = Bridge("s", GameEngine(Show.default([])), 0)
    b.inbound(up("p1", 0, "buzz", 1_000, ep=1), 1_000, 1_000)
    assert timed(b.inbound(_bare_sync("p1", 1), 1_100, 1_100).events) == []
    t = 1_000 + b.HOLD_UNMAPPED_US
    assert [g[:2] for g in timed(b.inbound(_bare_sync("p1", 2), t, t).events)] == [("PodiumPress", 0)]


def test_replies_ask_for_more_exchanges_until_the_clock_is_trusted() -> None:
    # SPEC §4.4: syncr.more = 1 while the host does not trust the boot's clock, then no more
    b = Bridge("s", GameEngine(Show.default([])), 0)
    more = []
    for n in range(1, 20):
        t1 = 1_000_000 + n * 20_000
        out = b.inbound(sync("p1", n, t1), t1 + OFFSET, t1 + OFFSET)
        (reply,) = [w.msg for w in out.wire if w.msg.get("t") == "syncr"]
        more.append(reply.get("more", 0))
    trusted_at = b.clocks.model("p1", 7).samples
    assert b.clocks.model("p1", 7).trusted
    assert more[0] == 1 and more[-1] == 0
    # once trusted, every reply after says nothing more
    first_plain = more.index(0)
    assert all(m == 0 for m in more[first_plain:]) and 1 <= first_plain <= trusted_at


def test_a_clock_that_stays_untrusted_is_not_hurried_for_ever() -> None:
    b = Bridge("s", GameEngine(Show.default([])), 0)
    more = []
    for n in range(1, b.MORE_EXCHANGES + 10):
        t1 = 1_000_000 + n * 20_000
        # every exchange 3 ms one way and 9 ms the other, 40 ms of jitter: never a 2 ms bound
        up, down = 3_000 + (n * 7919) % 40_000, 9_000 + (n * 104_729) % 40_000
        prev = [
            n - 1,
            t1 - 60_000,
            t1 - 60_000 + up + OFFSET,
            t1 - 60_000 + up + 10 + OFFSET,
            t1 - 60_000 + up + 10 + down,
        ]
        msg = {"t": "sync", "id": "p1", "b": 7, "n": n, "t1": t1, "prev": prev}
        out = b.inbound(Accepted("p1", "sync", msg), t1 + OFFSET, t1 + OFFSET)
        (reply,) = [w.msg for w in out.wire if w.msg.get("t") == "syncr"]
        more.append(reply.get("more", 0))
    assert not b.clocks.model("p1", 7).trusted
    assert more[0] == 1 and more[-1] == 0
