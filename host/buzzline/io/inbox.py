"""The host's incoming messages, taken straight from the MQTT client's read callback.

aiomqtt hands each message through an asyncio queue and a task per message (``client.messages``);
measured in `bench e2e` that costs about 0.1 ms of every buzz before the host sees it. The
``Inbox`` takes each message from the client's read callback instead (``hook_reads``, in
``io.mqttclient``, the one module that touches aiomqtt's internals): each message is stamped the moment it is
read off the socket (a better ``t2`` for clock sync, too) and appended to a deque the host drains
without a task per message. A lost connection ends ``get`` with ``aiomqtt.MqttError``, as the
iterator does. Install it right after connecting: what a persistent session delivered before
that (aiomqtt queued it) is taken over first.
"""

from __future__ import annotations

import asyncio
import collections
from typing import NamedTuple

import aiomqtt

from buzzline.hosttime import now_us
from buzzline.io.mqttclient import DirectWriteClient


class Received(NamedTuple):
    topic: str
    payload: bytes
    read_us: int  # CLOCK_MONOTONIC microseconds when the client read it off the socket


class Inbox:
    def __init__(self, client: DirectWriteClient) -> None:
        self._q: collections.deque[Received] = collections.deque()
        self._ready = asyncio.Event()
        self._client = client
        early = client.hook_reads(self._read, self._ready.set)
        for topic, payload in early:
            self._q.append(Received(topic, payload, now_us()))

    def _read(self, topic: str, payload: bytes) -> None:
        self._q.append(Received(topic, payload, now_us()))
        self._ready.set()

    def __len__(self) -> int:
        return len(self._q)

    def oldest_read_us(self) -> int | None:
        """When the oldest message still waiting was read (None: none waits)."""
        return self._q[0].read_us if self._q else None

    async def get(self) -> Received:
        while not self._q:
            if self._client.gone:
                raise aiomqtt.MqttError("Disconnected during message iteration")
            self._ready.clear()
            await self._ready.wait()
        return self._q.popleft()
