"""The host's incoming messages, taken straight from the MQTT client's read callback.

aiomqtt hands each message through an asyncio queue and a task per message (``client.messages``);
measured in `bench e2e` that costs about 0.1 ms of every buzz before the host sees it. The
``Inbox`` hooks the paho client under aiomqtt instead: each message is stamped the moment it is
read off the socket (a better ``t2`` for clock sync, too) and appended to a deque the host drains
without a task per message. A lost connection ends ``get`` with ``aiomqtt.MqttError``, as the
iterator does. Install it right after connecting: what a persistent session delivered before
that (aiomqtt queued it) is taken over first.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any, NamedTuple

import aiomqtt


class Received(NamedTuple):
    topic: str
    payload: bytes
    read_us: int  # CLOCK_MONOTONIC microseconds when the client read it off the socket


class Inbox:
    def __init__(self, client: aiomqtt.Client) -> None:
        self._q: collections.deque[Received] = collections.deque()
        self._ready = asyncio.Event()
        self._client = client
        paho = client._client  # aiomqtt's paho client (aiomqtt 2.x)
        early = client._queue
        while not early.empty():
            m = early.get_nowait()
            payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
            self._q.append(Received(m.topic.value, bytes(payload), time.monotonic_ns() // 1000))
        inner_disconnect = paho.on_disconnect

        def on_message(_c: Any, _u: Any, m: Any) -> None:
            self._q.append(Received(m.topic, bytes(m.payload), time.monotonic_ns() // 1000))
            self._ready.set()

        def on_disconnect(*args: Any) -> None:
            self._ready.set()
            if inner_disconnect is not None:
                inner_disconnect(*args)

        paho.on_message = on_message
        paho.on_disconnect = on_disconnect
        # aiomqtt also ends the connection without paho's callback (a read that raised)
        client._disconnected.add_done_callback(lambda _: self._ready.set())

    def __len__(self) -> int:
        return len(self._q)

    async def get(self) -> Received:
        while not self._q:
            if self._client._disconnected.done() or not self._client._client.is_connected():
                raise aiomqtt.MqttError("Disconnected during message iteration")
            self._ready.clear()
            await self._ready.wait()
        return self._q.popleft()
