"""The gate takes each inbound message once and comes back with all it asks of the shell: a buzz
is ingested, mapped and handed to the engine inside ``Bridge.receive``, and its batch holds the
lock to send at once, the input to log, and the rest worked out after. One podium table: the
engine writes what its inputs say (replayed after a restart), the gate the link's fields, so a
gate built on a resumed engine knows each podium's logged hello."""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.gate.bridge import Bridge
from buzzline.gate.ingest import Accepted
from buzzline_protocol import codec, topics

OFFSET = 5_000_000  # host µs = podium µs + OFFSET


def sync(pid: str, n: int, t1: int) -> Accepted:
    # a clean exchange: 100 µs each way
    prev = [n - 1, t1 - 1000, t1 - 900 + OFFSET, t1 - 890 + OFFSET, t1 - 790]
    return Accepted(pid, "sync", {"t": "sync", "id": pid, "b": 7, "n": n, "t1": t1, "prev": prev})


def up(pid: str, seq: int, kind: str, pt: int, **kw: Any) -> dict[str, Any]:
    return {"t": kind, "id": pid, "b": 7, "seq": seq, "pt": pt, **kw}


def test_a_buzz_enters_the_gate_once_and_comes_out_as_one_batch() -> None:
    b = Bridge("s", GameEngine(Show.default(["p1", "p2"])), 0)
    for i, pid in enumerate(("p1", "p2")):
        hello = up(pid, 0, "hello", 1_000, hw=f"hw{i}", board="esp32", fw="1")
        b.receive(topics.podium("s", pid, "up"), codec.encode(hello), 1_000, 1_000)
        b.inbound(sync(pid, 1, 2_000), 2_000, 2_000)
    arm = b.command("arm", {}, 10_000)
    assert [w.msg["t"] for w in arm.rest(10_000).wire if w.msg["t"] == "arm"] == ["arm"]
    stamps: list[str] = []
    buzz = codec.encode(up("p1", 1, "buzz", 20_000, ep=1))
    out = b.receive(topics.podium("s", "p1", "up"), buzz, 20_000 + OFFSET, 25_100, stamps.append)
    assert stamps == ["ingest", "map", "engine"]
    [batch] = out.batches
    assert isinstance(batch.input, ev.PodiumPress) and batch.commit
    assert [w.msg["t"] for w in batch.locks] == ["lock"]
    assert batch.locks[0].topic == topics.podium("s", topics.ALL, "cmd")
    assert b.lock_cs == batch.locks[0].msg["cs"]  # its acknowledgements are complete watermarks
    rest = batch.rest(25_200)
    assert rest is batch.rest(0)  # worked out once
    assert {"k": "locked", "ep": 1} in rest.events
    assert rest.view is not None and rest.view["phase"] == "open" and b.engine.g.locked


def test_a_rejected_message_reaches_no_engine() -> None:
    b = Bridge("s", GameEngine(Show.default(["p1"])), 0)
    spoof = codec.encode(up("p2", 0, "buzz", 5, ep=1))
    out = b.receive(topics.podium("s", "p1", "up"), spoof, 100, 100)
    assert out.rejected is not None and out.rejected.reason == "spoof"
    assert out.batches == [] and [w.msg["t"] for w in out.wire] == ["reject"]


def test_a_gate_on_a_resumed_engine_knows_each_podiums_logged_hello() -> None:
    engine = GameEngine(Show.default(["p1"]))
    engine.handle(ev.PodiumHello("p1", "hw-a", "esp32", "0.3.0", 777), 1_000)  # as replay does
    b = Bridge("s", engine, 0)
    assert b.capture("p1") == (777, "logged")
    row = b.registry.snapshot()[0]
    assert (row["hw"], row["board"], row["fw"], row["capture_us"], row["online"]) == (
        "hw-a",
        "esp32",
        "0.3.0",
        777,
        False,  # the link: this session has not heard it yet
    )
    # its hello in this session takes over: the board's default, no cap declared
    b.inbound(Accepted("p1", "up", up("p1", 0, "hello", 5, hw="hw-a", board="esp32", fw="0.3.1")), 9, 9)
    assert b.capture("p1") == (10_000, "board") and b.registry.get("p1").fw == "0.3.1"
    assert b.registry.get("p1").online and engine.view()["info"]["podiums"]["p1"]["online"]


def test_a_clock_sync_reaches_the_engine_only_when_it_may_release_held_messages() -> None:
    b = Bridge("s", GameEngine(Show.default(["p1"])), 0)
    sync_topic, up_topic = topics.podium("s", "p1", "sync"), topics.podium("s", "p1", "up")
    assert not b.needs_engine(sync_topic) and b.needs_engine(up_topic)
    b.inbound(Accepted("p1", "up", up("p1", 0, "buzz", 1_000, ep=1)), 1_000, 1_000)  # no sample yet: held
    assert b.needs_engine(sync_topic)  # the sync that gives the sample feeds it to the engine
    out = b.inbound(sync("p1", 1, 2_000), 1_100, 1_100)
    assert [type(x.input).__name__ for x in out.batches] == ["PodiumPress"]
    assert not b.needs_engine(sync_topic)
    assert b.inbound(sync("p1", 2, 3_000), 1_200, 1_200).batches == []
