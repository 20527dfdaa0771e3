"""The ingest gate: every kind of bad upstream traffic is rejected with its reason and counted."""

from __future__ import annotations

import json

import pytest
from buzzline.gate.ingest import Ingest, Rejected
from buzzline_protocol import codec, topics
from hypothesis import given, settings
from hypothesis import strategies as st

S = "studio1"


def up(pid: str, seq: int, boot: int = 1, kind: str = "buzz", **kw: object) -> tuple[str, bytes]:
    msg = {"t": kind, "id": pid, "b": boot, "seq": seq, "pt": 1000 + seq}
    if kind == "buzz":
        msg["ep"] = 1
    msg.update(kw)
    return topics.podium(S, pid, "up"), codec.encode(msg)


def reason(ing: Ingest, topic: str, payload: bytes) -> str:
    with pytest.raises(Rejected) as e:
        ing.accept(topic, payload)
    return e.value.reason


def test_accepts_in_order_and_flags_gaps():
    ing = Ingest(S)
    a = ing.accept(*up("p1", 0))
    assert (a.podium, a.leaf, a.msg["seq"], a.new_boot) == ("p1", "up", 0, True)
    assert ing.accept(*up("p1", 1)).gap == 0
    assert ing.accept(*up("p1", 4)).gap == 2


def test_duplicate_and_replay():
    ing = Ingest(S)
    ing.accept(*up("p1", 0, boot=1))
    ing.accept(*up("p1", 1, boot=1))
    assert reason(ing, *up("p1", 1, boot=1)) == "duplicate"
    assert ing.accept(*up("p1", 0, boot=2)).new_boot  # reboot: counter starts again
    assert reason(ing, *up("p1", 5, boot=1)) == "replay"  # traffic from the ended boot
    assert ing.rejects == {"duplicate": 1, "replay": 1}


def test_bad_payloads_and_topics():
    ing = Ingest(S)
    t = topics.podium(S, "p1", "up")
    assert reason(ing, t, b'{"v":1,"t":"buzz"') == "json"
    assert reason(ing, t, b"x" * 9000) == "size"
    assert reason(ing, t, b'{"v":2,"t":"buzz","id":"p1","b":1,"seq":1,"pt":1,"ep":1}') == "version"
    assert reason(ing, t, b'{"v":1,"t":"buzz","id":"p1","b":1,"seq":"1","pt":1,"ep":1}') == "type"
    # topic and payload disagree: p1's topic carrying p2's buzz
    assert reason(ing, t, up("p2", 0)[1]) == "spoof"
    # a command kind on the upstream topic
    assert reason(ing, t, codec.encode({"t": "lock", "cs": 1, "ep": 1})) == "topic"
    assert reason(ing, "buzzline/other/podium/p1/up", up("p1", 0)[1]) == "topic"
    assert (
        reason(ing, topics.podium(S, "p1", "cmd"), codec.encode({"t": "lock", "cs": 1, "ep": 1})) == "topic"
    )
    assert sum(ing.rejects.values()) == 8
    # and it still accepts good traffic afterwards
    assert ing.accept(*up("p1", 0)).msg["t"] == "buzz"


def side(pid: str, boot: int, leaf: str, state: str = "offline") -> tuple[str, bytes]:
    """A sync or presence message of one boot."""
    if leaf == "sync":
        msg: dict[str, object] = {"t": "sync", "id": pid, "b": boot, "n": 3, "t1": 5}
    else:
        msg = {"t": "presence", "id": pid, "state": state, "b": boot}
    return topics.podium(S, pid, leaf), codec.encode(msg)


@pytest.mark.parametrize("leaf", ["sync", "presence"])
def test_a_left_boots_sync_and_presence_are_replays(leaf: str) -> None:
    ing = Ingest(S)
    ing.accept(*up("p1", 0, boot=1, kind="hb"))
    assert ing.accept(*side("p1", 1, leaf)).leaf == leaf  # the live boot
    ing.accept(*up("p1", 0, boot=2, kind="hb"))  # reboot: boot 1 is left
    assert reason(ing, *side("p1", 1, leaf)) == "replay"
    assert ing.accept(*side("p1", 2, leaf)).leaf == leaf
    assert ing.rejects == {"replay": 1}


@pytest.mark.parametrize("leaf", ["sync", "presence"])
def test_only_up_starts_a_boot(leaf: str) -> None:
    ing = Ingest(S)
    ing.accept(*up("p1", 0, boot=1, kind="hb"))
    # a new boot's presence or sync overtaking its hello, or a boot never heard on up: dropped
    assert reason(ing, *side("p1", 7, leaf)) == "early"
    assert ing.accept(*side("p1", 1, leaf))  # boot 1 is still live
    assert ing.accept(*up("p1", 0, boot=7, kind="hello", hw="h", board="b", fw="f")).new_boot
    assert ing.accept(*side("p1", 7, leaf))
    assert reason(ing, *side("p1", 1, leaf)) == "replay"


def test_a_host_started_after_the_podium_adopts_its_boot_from_sync_or_presence() -> None:
    ing = Ingest(S)
    ing.accept(*side("p1", 5, "presence", "online"))  # retained presence, heard first
    ing.accept(*side("p1", 5, "sync"))
    a = ing.accept(*up("p1", 40, boot=5, kind="hb"))  # mid-boot: no gap, a fresh start
    assert (a.gap, a.new_boot) == (0, True)
    assert ing.accept(*up("p1", 42, boot=5, kind="hb")).gap == 1
    assert reason(ing, *up("p1", 42, boot=5, kind="hb")) == "duplicate"
    # a retained last will of a boot the host never knew, then the live boot's heartbeat
    ing.accept(*side("p2", 8, "presence"))
    assert ing.accept(*up("p2", 9, boot=9, kind="hb")).new_boot
    assert reason(ing, *side("p2", 8, "presence")) == "replay"
    # a presence without a boot nonce cannot be checked: taken as it is
    t = topics.podium(S, "p2", "presence")
    assert ing.accept(t, codec.encode({"t": "presence", "id": "p2", "state": "online"}))


KNOWN_REASONS = set(codec.REASONS) | {"duplicate", "replay", "spoof", "flood", "early"}


def test_a_flood_of_buzzes_is_refused_beyond_the_rate_and_recovers() -> None:
    ing = Ingest(S)
    t = 1_000_000
    accepted = 0
    for seq in range(100):  # 100 buzzes within 10 ms
        try:
            ing.accept(*up("p1", seq), now_us=t + seq * 100)
            accepted += 1
        except Rejected as e:
            assert e.reason == "flood"
    assert accepted == Ingest.BUZZ_BURST
    assert ing.rejects["flood"] == 100 - Ingest.BUZZ_BURST
    # heartbeats are never rate-limited, and after a second the podium may buzz again
    assert ing.accept(*up("p1", 100, kind="hb"), now_us=t + 20_000).msg["t"] == "hb"
    assert ing.accept(*up("p1", 101), now_us=t + 1_010_000).msg["t"] == "buzz"
    assert ing.accept(*up("p2", 0), now_us=t + 20_000).podium == "p2"  # others unaffected


@given(payload=st.binary(max_size=700), leaf=st.sampled_from(["up", "presence", "sync", "cmd", "x"]))
@settings(max_examples=400, deadline=None)
def test_any_bytes_are_accepted_or_rejected_with_a_known_reason(payload: bytes, leaf: str) -> None:
    ing = Ingest(S)
    try:
        ing.accept(f"buzzline/{S}/podium/p1/{leaf}", payload)
    except Rejected as e:
        assert e.reason in KNOWN_REASONS
        assert sum(ing.rejects.values()) == 1


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@given(
    fields=st.dictionaries(
        st.sampled_from(["v", "t", "id", "b", "seq", "pt", "ep", "cs", "rssi", "extra"]),
        _json_values,
        max_size=8,
    ),
    kind=st.sampled_from(["buzz", "hb", "ack", "hello", "sync", "presence", "lock"]),
)
@settings(max_examples=400, deadline=None)
def test_near_valid_messages_never_crash_the_gate(fields: dict, kind: str) -> None:
    ing = Ingest(S)
    msg = {"v": 1, "t": kind, "id": "p1", "b": 1, "seq": 1, "pt": 5, "ep": 1}
    msg.update(fields)
    payload = json.dumps(msg).encode()
    try:
        acc = ing.accept(topics.podium(S, "p1", "up"), payload)
    except Rejected as e:
        assert e.reason in KNOWN_REASONS
    else:  # what gets through is exactly what the codec says is valid
        assert codec.encode(acc.msg) and acc.podium == "p1"
