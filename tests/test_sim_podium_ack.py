"""The simulated podium's lock acknowledgement declares its presses of the epoch (ack.fp/np), like
the firmware, including a buzz the broker acknowledged and then lost (``press(lose=True)``)."""

from __future__ import annotations

import asyncio
from typing import Any

import aiomqtt
from buzzline.sim.podium import VirtualPodium
from buzzline_protocol import codec, topics

STUDIO = "simack"


async def test_ack_declares_earliest_press_and_count_even_when_a_buzz_was_lost(broker: Any) -> None:
    up = topics.podium(STUDIO, "p1", "up")
    async with (
        aiomqtt.Client(broker.host, broker.port, identifier="t-watch") as watch,
        aiomqtt.Client(broker.host, broker.port, identifier="t-host") as host,
    ):
        await watch.subscribe(up, qos=1)
        # the podium sends on up only while the host is online (SPEC §2, following the host)
        online = codec.encode({"t": "presence", "id": "host", "state": "online"})
        await host.publish(topics.host(STUDIO, "presence"), online, qos=1, retain=True)
        async with VirtualPodium("p1", broker.host, broker.port, STUDIO) as p:
            cmd = topics.podium(STUDIO, "p1", "cmd")
            await host.publish(cmd, codec.encode({"t": "arm", "cs": 1, "ep": 4}), qos=1)
            async with asyncio.timeout(5):
                while p.epoch != 4:
                    await asyncio.sleep(0.01)
            first = await p.press(lose=True)  # acknowledged by the broker, then lost
            await p.press()
            await host.publish(cmd, codec.encode({"t": "lock", "cs": 2, "ep": 4}), qos=1)
            await host.publish(cmd, codec.encode({"t": "lock", "cs": 3, "ep": 5}), qos=1)
            acks: list[dict[str, Any]] = []
            buzzes: list[dict[str, Any]] = []
            seqs: list[int] = []
            async with asyncio.timeout(5):
                async for m in watch.messages:
                    msg = codec.decode(bytes(m.payload))  # type: ignore[arg-type]
                    seqs.append(msg["seq"])
                    if msg["t"] == "buzz":
                        buzzes.append(msg)
                    if msg["t"] == "ack":
                        acks.append(msg)
                        if len(acks) == 2:
                            break
    assert len(buzzes) == 1 and buzzes[0]["pt"] > first
    assert acks[0]["np"] == 2 and acks[0]["fp"] == first and acks[0]["seq"] == buzzes[0]["seq"] + 1
    # the lost buzz took a sequence number: a gap right before the buzz that arrived
    assert buzzes[0]["seq"] - 1 not in seqs and buzzes[0]["seq"] - 2 in seqs
    assert acks[1]["ep"] == 5 and acks[1]["np"] == 0 and "fp" not in acks[1]
