"""Reconfiguring an adapter applies its settings, never doubles what it does: every built-in kind
is reconfigured twice in a running host (real Mosquitto, real sockets, a socat pty for the DMX
interface, SDL's dummy video and audio drivers for the viewer window and the sound cues), and the
``osc`` adapter, which once appended its rules again on each reconfigure, sends to a real
``oscdump`` what a fresh one does."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.adapter_kit import (
    Dump,
    built_in_kinds,
    free_udp_ports,
    host,
    reconfigure_twice,
    socat,
    until_ok,
    whole_question,
)
from tests.audience_kit import cluster

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # the viewer's window, with no screen here
os.environ.setdefault("SDL_AUDIODRIVER", "dummy")  # the sound adapter's device, with no sound card


def settings(kind: str, ports: list[int], tty: Path) -> dict[str, Any]:
    """Settings with which each built-in kind runs ``ok`` here."""
    return {
        "osc": {"preset": "qlcplus", "port": ports[0]},
        "osc-control": {"port": ports[1], "feedback": [f"127.0.0.1:{ports[2]}"]},
        "dmx-usbpro": {"port": str(tty), "seats": 3, "fps": 20},
        "viewer": {"width": 320, "height": 240},
        "sound": {"volume": 0.5, "cues": {"over": {"enabled": True}}},
    }[kind]


KINDS = ("osc", "osc-control", "dmx-usbpro", "viewer", "sound", "audience")


def test_every_built_in_kind_is_checked() -> None:
    assert set(KINDS) == built_in_kinds()


@pytest.mark.parametrize("kind", KINDS)
async def test_reconfigure_twice_holds_no_more(broker: Any, tmp_path: Path, kind: str) -> None:
    dev, peer = tmp_path / "ttyDMX", tmp_path / "ttyPeer"
    box = await socat(dev, peer) if kind == "dmx-usbpro" else None
    try:
        with contextlib.ExitStack() as stack:
            if kind == "audience":  # its peer: a one-node NATS cluster of the test's own
                nats = stack.enter_context(cluster(tmp_path, nodes=1))
                config = {
                    "servers": nats.plan.client_urls(),
                    "password": nats.plan.show_password,
                    "code": "RECNF2",
                    "replicas": 1,
                }
            else:
                config = settings(kind, free_udp_ports(3), dev)
            async with host(broker) as svc:
                await svc.adapters.add(kind, kind, config)
                await reconfigure_twice(svc, kind)
    finally:
        if box is not None and box.returncode is None:
            box.terminate()
            await box.wait()


async def test_osc_after_two_reconfigures_sends_what_a_fresh_one_does(broker: Any) -> None:
    ports = free_udp_ports(2)
    async with Dump(ports[0]) as twice, Dump(ports[1]) as fresh, host(broker) as svc:
        config = {"preset": "qlcplus", "port": ports[0]}
        await svc.adapters.add("twice", "osc", config)
        for _ in range(2):
            await until_ok(svc, "twice")
            await asyncio.sleep(0.1)
            await svc.adapters.reconfigure("twice", config)
        await svc.adapters.add("fresh", "osc", {"preset": "qlcplus", "port": ports[1]})
        await until_ok(svc, "fresh")
        await asyncio.sleep(0.2)
        mark_twice, mark_fresh = len(twice.lines), len(fresh.lines)
        await whole_question(svc)
        await asyncio.sleep(0.3)
        got = Counter(repr(line) for line in twice.lines[mark_twice:])
        want = Counter(repr(line) for line in fresh.lines[mark_fresh:])
        assert want and got == want
