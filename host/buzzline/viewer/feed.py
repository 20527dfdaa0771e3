"""The standalone viewer's input: ``game/state``, ``game/events`` and ``host/presence`` from the
broker, turned into notices on a local ``NoticeBus`` (the same shape the host's bus carries), so
the window and the overlay read them exactly as they do inside the host.

Read-only: the feed only subscribes (the broker's viewer or adapter role is enough). A state
message becomes a notice with no events; the events of one host notice (``n``, ``i`` of ``of``)
become one notice carrying the latest state. The viewer-local ``link`` event reports the broker
connection and the host's presence, for the screen's banner. The connection is retried at once,
then at most 1 s apart, as the host does.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from typing import Any

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.adapters.api import Notice
from buzzline.notices import NoticeBus

log = logging.getLogger("buzzline.viewer.feed")

RECONNECT_DELAYS_S = (0.05, 0.1, 0.2, 0.4, 0.7, 1.0)


def now_us() -> int:
    return time.monotonic_ns() // 1000


class RemoteFeed:
    """Fill ``bus`` from a studio's broker until cancelled. ``rejected`` counts bad messages."""

    def __init__(
        self,
        bus: NoticeBus,
        host: str,
        port: int,
        studio: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.bus = bus
        self.host = host
        self.port = port
        self.studio = studio
        self.username = username
        self.password = password
        self.view: dict[str, Any] = {}
        self.connected = asyncio.Event()
        self.rejected = 0
        self.failure = ""  # why the last connection attempt failed (shown by the CLI)
        self._pending: dict[int, dict[int, dict[str, Any]]] = {}
        self._host_online: bool | None = None
        self._seq = 0
        self._state_topic = topics.game_state(studio)
        self._events_topic = topics.game_events(studio)
        self._presence_topic = topics.host(studio, "presence")

    def _publish(self, events: tuple[dict[str, Any], ...], host_us: int | None = None) -> None:
        self._seq += 1
        self.bus.publish(Notice(self._seq, host_us or now_us(), events, self.view))

    def _link(self) -> None:
        self._publish(
            ({"k": "link", "broker": self.connected.is_set(), "host": self._host_online is not False},)
        )

    async def run(self) -> None:
        tries = 0
        while True:
            try:
                async with aiomqtt.Client(
                    self.host,
                    self.port,
                    identifier=f"buzzline-viewer-{secrets.token_hex(4)}",
                    username=self.username,
                    password=self.password,
                    keepalive=2,
                    timeout=5,
                ) as client:
                    for topic in (self._state_topic, self._events_topic, self._presence_topic):
                        await client.subscribe(topic, qos=1)
                    tries = 0
                    self.failure = ""
                    self.connected.set()
                    self._link()
                    log.info("viewer connected to %s:%d studio %s", self.host, self.port, self.studio)
                    async for m in client.messages:
                        payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
                        self.handle(m.topic.value, bytes(payload))
            except aiomqtt.MqttError as e:
                self.failure = str(e)
                if self.connected.is_set():
                    self.connected.clear()
                    self._link()
                delay = RECONNECT_DELAYS_S[min(tries, len(RECONNECT_DELAYS_S) - 1)]
                tries += 1
                log.log(
                    logging.WARNING if tries == 1 else logging.DEBUG,
                    "broker %s:%d: %s",
                    self.host,
                    self.port,
                    e,
                )
                await asyncio.sleep(delay)

    def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker; a malformed one is counted, logged and dropped."""
        try:
            msg = codec.decode(payload)
        except codec.ProtocolError as e:
            self.rejected += 1
            log.warning("rejected a message on %s: %s", topic, e)
            return
        kind = msg.get("t")
        if topic == self._state_topic and kind == "state":
            self.view = {k: v for k, v in msg.items() if k not in ("v", "t")}
            self._publish((), msg.get("ts"))
        elif topic == self._events_topic and kind == "event":
            self._event(msg)
        elif topic == self._presence_topic and kind == "presence":
            online = msg.get("state") == "online"
            if online != self._host_online:
                self._host_online = online
                self._link()
        else:
            self.rejected += 1
            log.warning("rejected a %s message on %s", kind, topic)

    def _event(self, msg: dict[str, Any]) -> None:
        n, i, of = msg["n"], msg["i"], msg["of"]
        e = {"k": msg["k"], **(msg.get("d") or {})}
        # an older notice left incomplete (a lost message, or a host restart) goes out as it is
        for old in [k for k in self._pending if k != n]:
            self._flush(old, None)
        parts = self._pending.setdefault(n, {})
        parts[i] = e
        if len(parts) >= of:
            self._flush(n, msg.get("ts"))

    def _flush(self, n: int, ts: int | None) -> None:
        parts = self._pending.pop(n, {})
        if parts:
            self._publish(tuple(parts[i] for i in sorted(parts)), ts)
