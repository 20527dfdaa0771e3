"""Old boots on a real broker: a rebooted podium's left boot can neither restart the live boot's
clock model (a late sync) nor mark it offline (a late last will, published by Mosquitto)."""

from __future__ import annotations

import asyncio
import random
import socket
import struct

import aiomqtt
from buzzline.host_service import HostService
from buzzline.hosttime import now_us
from buzzline.io.broker import MosquittoBroker
from buzzline.sim.podium import VirtualPodium
from buzzline_protocol import codec, topics

STUDIO = "boots"


def _utf8(s: str | bytes) -> bytes:
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def connect_with_will(broker: MosquittoBroker, client_id: str, will_topic: str, will: bytes) -> socket.socket:
    """A bare MQTT 3.1.1 client with a last will (QoS 1, retained); closing its socket without
    DISCONNECT makes Mosquitto publish the will, as it does when a podium vanishes."""
    flags = 0x02 | 0x04 | 0x08 | 0x20  # clean session, will, will QoS 1, will retain
    body = _utf8("MQTT") + bytes([4, flags]) + struct.pack("!H", 60)
    body += _utf8(client_id) + _utf8(will_topic) + _utf8(will)
    assert len(body) < 128
    s = socket.create_connection((broker.host, broker.port), timeout=5)
    s.sendall(bytes([0x10, len(body)]) + body)
    connack = s.recv(4)
    if connack[:1] != b"\x20" or connack[3:4] != b"\x00":
        raise RuntimeError(f"broker refused the connection: {connack!r}")
    return s


async def _trusted(svc: HostService, pod: VirtualPodium) -> None:
    """Until the host's clock model of this boot is trusted (read only: ``clocks.model`` would
    make one)."""
    async with asyncio.timeout(10):
        while True:
            model = svc.clocks.get(pod.pid)
            if svc.registry.get(pod.pid).boot == pod.boot and model is not None and model.trusted:
                return
            await asyncio.sleep(0.02)


async def test_a_left_boots_sync_and_last_will_change_nothing(broker: MosquittoBroker) -> None:
    async with HostService(broker.host, broker.port, STUDIO) as svc:
        # boot A connects (with its will held by a bare connection), then reboots as boot B
        old = VirtualPodium("p1", broker.host, broker.port, STUDIO, rng=random.Random(1))
        await old.start()
        await _trusted(svc, old)
        will = codec.encode({"t": "presence", "id": "p1", "state": "offline", "b": old.boot})
        ghost = connect_with_will(broker, "p1-boot-a", topics.podium(STUDIO, "p1", "presence"), will)
        await old.stop(graceful=False)
        live = VirtualPodium("p1", broker.host, broker.port, STUDIO, rng=random.Random(2))
        assert live.boot != old.boot
        async with live:
            await _trusted(svc, live)
            model = svc.clocks.get("p1")
            resets = svc.clocks.resets
            assert svc.registry.get("p1").online and svc.engine.view()["info"]["podiums"]["p1"]["online"]

            # boot A's sync, late, carrying a sample 60 s off, then boot A's last will
            t = now_us()
            async with aiomqtt.Client(broker.host, broker.port, identifier="p1-boot-a-sync") as c:
                sync = {"t": "sync", "id": "p1", "b": old.boot, "n": 99, "t1": 5, "prev": [98, 1, t, t, 9]}
                await c.publish(topics.podium(STUDIO, "p1", "sync"), codec.encode(sync), qos=1)
            ghost.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            ghost.close()  # reset, no DISCONNECT: Mosquitto publishes the will
            async with asyncio.timeout(10):
                while svc.ingest.rejects["replay"] < 2:
                    await asyncio.sleep(0.02)

            # the live boot's clock model and presence are untouched
            assert svc.clocks.get("p1") is model and svc.clocks.resets == resets
            assert model is not None and model.trusted
            info = svc.registry.get("p1")
            assert info.online and info.boot == live.boot
            assert svc.engine.view()["info"]["podiums"]["p1"]["online"]

            # and the live boot still wins a question on its own press
            await svc.command("read")
            await svc.command("arm")
            await live.wait_light("armed")
            waiter = asyncio.ensure_future(svc.wait_decision(5))
            await live.press()
            d = await waiter
            assert d.winner == "p1" and "timeout" not in d.flags


async def test_a_rebooted_podium_is_online_though_its_presence_overtook_its_hello(
    broker: MosquittoBroker,
) -> None:
    async with HostService(broker.host, broker.port, STUDIO) as svc:

        def online() -> bool:
            return bool(svc.engine.view()["info"]["podiums"].get("p1", {}).get("online"))

        old = VirtualPodium("p1", broker.host, broker.port, STUDIO, rng=random.Random(3))
        await old.start()
        await _trusted(svc, old)
        await old.stop(graceful=True)  # boot A says offline
        async with asyncio.timeout(5):
            while online():
                await asyncio.sleep(0.02)
        # boot B: its presence (online) goes out before its hello, so the host drops it as early
        async with VirtualPodium("p1", broker.host, broker.port, STUDIO, rng=random.Random(4)) as live:
            await _trusted(svc, live)
            assert svc.ingest.rejects["early"] >= 1
            assert online() and svc.registry.get("p1").online
