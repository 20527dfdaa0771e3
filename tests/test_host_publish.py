"""The host's publish path: handed to the MQTT client in order, the lock written at once, and a
message the codec refuses is logged and counted, never a reason for the host to stop."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import aiomqtt
import pytest
from buzzline.gate.bridge import Wire
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker
from buzzline_protocol import codec, topics

STUDIO = "pub"


async def test_publishes_arrive_in_order_and_a_refused_one_is_only_counted(broker: MosquittoBroker) -> None:
    async with (
        HostService(broker.host, broker.port, STUDIO) as svc,
        aiomqtt.Client(broker.host, broker.port, identifier="pub-watch") as watch,
    ):
        cmd = topics.podium(STUDIO, topics.ALL, "cmd")
        await watch.subscribe(cmd, qos=1)
        await asyncio.sleep(0.1)
        svc._send(Wire(cmd, {"t": "arm", "ep": 7, "cs": 1}))
        svc._send(Wire(topics.game_state(STUDIO), {"t": "state", "phase": "x" * 9000}))  # too big
        svc._send(Wire(cmd, {"t": "lock", "ep": 7, "cs": 2}), now=True)
        got = []
        async with asyncio.timeout(5):
            async for m in watch.messages:
                got.append(codec.decode(bytes(m.payload))["t"])  # type: ignore[arg-type]
                if len(got) == 2:
                    break
        assert got == ["arm", "lock"]
        assert svc.unsendable == 1 and svc.failed is None and svc.connected.is_set()


async def test_the_lock_goes_to_the_socket_ahead_of_queued_acknowledgements(broker: MosquittoBroker) -> None:
    async with HostService(broker.host, broker.port, STUDIO) as svc:
        assert svc._client is not None
        sent: list[int] = []

        def wrap(inner: Callable[[bytes | bytearray], int]) -> Callable[[bytes | bytearray], int]:
            def sock_send(buf: bytes | bytearray) -> int:
                sent.append(buf[0] & 0xF0)  # the packet type
                return inner(buf)

            return sock_send

        svc._client.wrap_sends(wrap)
        paho = svc._client._client  # to queue a PUBACK as paho does on reading a QoS 1 buzz
        lock = Wire(topics.podium(STUDIO, topics.ALL, "cmd"), {"t": "lock", "ep": 3, "cs": 9})
        for ahead in (True, False):
            sent.clear()
            svc.LOCK_AHEAD_OF_ACKS = ahead
            paho._send_puback(7)  # as paho queues one for a QoS 1 buzz it has just read
            svc._send(lock, now=True)
            assert sent == ([0x30, 0x40] if ahead else [0x40, 0x30])  # PUBLISH, PUBACK
        assert svc.connected.is_set()


async def test_a_started_host_freezes_what_it_has_built(
    broker: MosquittoBroker, monkeypatch: pytest.MonkeyPatch
) -> None:
    # docs/performance.md: a full collection walks every long-lived object; once started, the
    # host freezes its modules' and its own so that each later one is short
    import gc

    monkeypatch.setattr(HostService, "GC_SETTLE_S", 0.05)
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    async with HostService(broker.host, broker.port, STUDIO):
        async with asyncio.timeout(5):
            while gc.get_freeze_count() == 0:
                await asyncio.sleep(0.02)
    assert gc.get_freeze_count() > 10_000
