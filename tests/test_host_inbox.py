"""The host's inbox (messages from the MQTT client's read callback): what a persistent session
delivers the moment the host reconnects, before the inbox is hooked in, is handled too."""

from __future__ import annotations

import asyncio
from pathlib import Path

import aiomqtt
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker
from buzzline_protocol import codec, topics

STUDIO = "inbox"


async def test_messages_queued_for_the_host_while_it_was_away_are_handled(
    broker: MosquittoBroker, tmp_path: Path
) -> None:
    log = tmp_path / "show.db"
    async with HostService(broker.host, broker.port, STUDIO, log_path=log):
        pass  # subscribed with a persistent session, then a clean stop
    hello = {"t": "hello", "id": "p7", "b": 9, "seq": 0, "pt": 5, "hw": "hw", "board": "sim", "fw": "1"}
    async with aiomqtt.Client(broker.host, broker.port, identifier="inbox-podium") as podium:
        await podium.publish(topics.podium(STUDIO, "p7", "up"), codec.encode(hello), qos=1)
    async with HostService(broker.host, broker.port, STUDIO, log_path=log) as svc:
        async with asyncio.timeout(5):
            while "p7" not in svc.registry.podiums:
                await asyncio.sleep(0.02)
        assert svc.registry.podiums["p7"].hw == "hw" and svc.ingest.accepted >= 1
