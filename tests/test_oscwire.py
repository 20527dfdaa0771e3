"""The pure OSC pieces: mapping rules refuse bad settings with a reason, templates, the two TCP
framings, the rate limiter, allow-lists, and command parsing for osc-control."""

from __future__ import annotations

import pytest
from buzzline.adapters.api import ConfigError
from buzzline.adapters.osc_control import Refusal, command_of
from buzzline.adapters.oscwire import (
    Deframer,
    OscError,
    RateLimiter,
    allowed,
    build,
    frame,
    message,
    networks,
    parse,
    parse_rules,
    qlc_channel,
    resolve_vars,
)


@pytest.mark.parametrize(
    ("table", "why"),
    [
        ({"x": {"on": "winner", "path": "no-slash"}}, "path must be text starting with /"),
        ({"x": {"on": "buzz", "path": "/a"}}, "unknown event 'buzz'"),
        ({"x": {"state": "seat.dancing", "path": "/a"}}, "unknown state 'seat.dancing'"),
        ({"x": {"on": "winner", "state": "armed", "path": "/a"}}, "exactly one of on"),
        ({"x": {"on": "winner", "path": "/a", "args": [[1]]}}, "an argument must be"),
        ({"x": {"on": "winner", "path": "/a/{seat"}}, "bad template"),
        ({"x": {"on": "winner", "path": "/a", "colour": 1}}, "unknown keys colour"),
        ({"x": "winner"}, "expected a table"),
    ],
)
def test_bad_rules_say_why(table, why) -> None:
    with pytest.raises(ConfigError) as info:
        parse_rules(table)
    assert why in str(info.value) and str(info.value).startswith("map.x")


def test_rules_render_with_typed_arguments_and_seat_lists() -> None:
    rules = parse_rules(
        {
            "lamp": {
                "state": "seat.winner",
                "path": "/s/{seat}",
                "set": ["{level}", "s:{score}"],
                "clear": [0],
            },
            "off": {"on": "winner", "path": "/x", "enabled": False},
        }
    )
    assert list(rules) == ["lamp"]
    ctx = resolve_vars({"level": [0.5, 1.0], "name": "p-{seat}"}, {"seat": 2, "score": 300})
    assert message(rules["lamp"], True, ctx) == ("/s/2", [1.0, "300"])
    assert message(rules["lamp"], False, ctx) == ("/s/2", [0])
    assert ctx["name"] == "p-2"
    with pytest.raises(KeyError):
        message(rules["lamp"], True, {"score": 1})  # no seat: the rule does not apply


def test_messages_and_both_tcp_framings() -> None:
    data = build("/a", [1, 2.5, "x", True])
    assert parse(data) == ("/a", [1, 2.5, "x", True])
    tricky = build("/b", ["\xc0\xdb"])  # bytes SLIP must escape
    for framing in ("slip", "length"):
        stream = frame(data, framing) + frame(tricky, framing)
        d = Deframer(framing)
        got = [m for i in range(len(stream)) for m in d.feed(stream[i : i + 1])]  # byte by byte
        assert got == [data, tricky]
    with pytest.raises(OscError):
        Deframer("length").feed(b"\x7f\xff\xff\xff")
    with pytest.raises(OscError):
        parse(b"not osc")
    assert qlc_channel("123456789") == 0x906E  # CRC-16/X-25 check value


def test_rate_limiter_keeps_the_latest_per_path() -> None:
    rl = RateLimiter(rate=10, burst=2)
    assert rl.offer("/a", b"a1", 0.0) == [b"a1"]
    assert rl.offer("/b", b"b1", 0.0) == [b"b1"]
    assert rl.offer("/a", b"a2", 0.0) == []  # over budget: waits
    assert rl.offer("/c", b"c1", 0.0) == []
    assert rl.offer("/a", b"a3", 0.0) == []  # supersedes a2
    assert rl.superseded == 1
    assert rl.next_time() == pytest.approx(0.1)
    assert rl.due(0.1) == [b"c1"]  # paths in the order they first waited (a3 waits again)
    assert rl.due(0.2) == [b"a3"]
    assert rl.due(5.0) == [] and rl.next_time() is None


def test_allow_lists() -> None:
    nets = networks(["127.0.0.0/8", "::1/128", "192.168.1.50"])
    assert allowed("127.0.0.1", nets) and allowed("::1", nets) and allowed("192.168.1.50", nets)
    assert allowed("::ffff:127.0.0.1", nets)
    assert not allowed("192.168.1.51", nets) and not allowed("garbage", nets)
    with pytest.raises(ConfigError):
        networks(["300.1.1.1/8"])


def test_osc_commands() -> None:
    assert command_of("/buzzline", "/buzzline/judge", ["wrong"]) == ("judge", {"correct": False})
    assert command_of("/buzzline", "/buzzline/judge/right", [1.0]) == ("judge", {"correct": True})
    assert command_of("/buzzline", "/buzzline/arm", [0.0]) is None  # a button's release
    assert command_of("/buzzline", "/other/arm", []) is None
    assert command_of("/buzzline", "/buzzline/adjust", ["Ann", 50.0]) == (
        "adjust",
        {"player": "Ann", "delta": 50},
    )
    for address, args, why in [
        ("/buzzline/fly", [], "unknown address"),
        ("/buzzline/read", ["x"], "takes no arguments"),
        ("/buzzline/judge", ["maybe"], '"right" or "wrong"'),
        ("/buzzline/adjust", ["Ann", 1.5], "whole number"),
        ("/buzzline/adjust", ["Ann"], "takes 2 argument"),
    ]:
        with pytest.raises(Refusal) as info:
            command_of("/buzzline", address, args)
        assert why in str(info.value)


def test_preset_ports_follow_the_transport() -> None:
    from buzzline.adapters.oscpresets import PRESETS

    eos = PRESETS["eos"]
    assert (eos.port_for("udp"), eos.port_for("tcp-length"), eos.port_for("tcp-slip")) == (8000, 3032, 3037)
    assert PRESETS["qlab"].port_for("tcp-slip") == 53000
