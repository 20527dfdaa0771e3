"""Adapters anywhere on the studio network: notices rebuilt from ``game/state`` and ``game/events``.

``RemoteFeed`` subscribes (read-only: the broker's ``adapter`` or ``viewer`` role is enough) to the
retained ``game/state``, the ``game/events`` stream and ``host/presence``, and publishes on a local
``NoticeBus`` the same notices the host's own bus carries: one per host notice, assembled from its
``event`` messages (``n``, ``i`` of ``of``), with the latest view; and one with no events for the
retained state that arrives on (re)connecting, so a screen shows the show at once. The same
``AdapterManager`` then runs the adapter exactly as the host would. Commands go to the operator
HTTP API (``HttpCommands``).

Two extra event kinds exist only here: ``link`` ``{broker, host}`` when the connection to the broker
or the host's presence changes, so a screen can say it has lost the show.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import urllib.error
import urllib.request
from typing import Any

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.adapters.api import CommandResult, GameView, Notice, as_view
from buzzline.core.contract import CommandBody, CommandDone, CommandRefusal
from buzzline.io.broker import NODELAY
from buzzline.notices import NoticeBus

log = logging.getLogger("buzzline.adapters.remote")


class RemoteFeed:
    RECONNECT_MAX_S = 2.0

    def __init__(
        self,
        broker_host: str,
        broker_port: int,
        studio: str,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self.broker_host = broker_host
        self.broker_port = broker_port
        self.studio = studio
        self.username = username
        self.password = password
        self.bus = NoticeBus()
        self.broker_up = False
        self.host_up = False
        self.connected = asyncio.Event()
        self._view: dict[str, Any] = {}
        self._pending: dict[int, list[dict[str, Any]]] = {}
        self._fresh = True  # the next state is the first since connecting: it is a notice itself

    def view(self) -> GameView:
        return as_view(self._view)

    def _emit(self, seq: int, ts: int, events: list[dict[str, Any]]) -> None:
        view = dict(self._view)
        view["link"] = {"broker": self.broker_up, "host": self.host_up}
        self.bus.publish(Notice(seq, ts, tuple(events), as_view(view)))

    def _link(self) -> None:
        self._emit(self.bus.seq, 0, [{"k": "link", "broker": self.broker_up, "host": self.host_up}])

    def handle(self, topic: str, payload: bytes) -> None:
        """One message from the broker (pure apart from the bus: tests call it directly)."""
        try:
            msg = codec.decode(payload)
        except codec.ProtocolError as e:
            log.warning("ignored a bad message on %s: %s", topic, e)
            return
        kind = msg.get("t")
        if topic == topics.game_state(self.studio) and kind == "state":
            self._view = {k: v for k, v in msg.items() if k not in ("v", "t")}
            if self._fresh:  # the retained state on (re)connecting: a screen shows it at once
                self._fresh = False
                self._emit(self.bus.seq, msg["ts"], [])
        elif topic == topics.host(self.studio, "presence") and kind == "presence":
            up = msg.get("state") == "online"
            if up != self.host_up:
                self.host_up = up
                self._link()
        elif topic == topics.game_events(self.studio) and kind == "event":
            n, i, of = msg["n"], msg["i"], msg["of"]
            parts = self._pending.setdefault(n, [])
            parts.append({"k": msg["k"], **msg.get("d", {})})
            if i == of - 1 or len(parts) >= of:
                del self._pending[n]
                # a notice whose start was lost (we joined mid-notice) is delivered with what came
                for old in [k for k in self._pending if k < n]:
                    del self._pending[old]
                self._emit(n, msg["ts"], parts)

    async def run(self) -> None:
        """Stay connected until cancelled, reconnecting with a short jittered backoff."""
        delay = 0.1
        while True:
            try:
                async with aiomqtt.Client(
                    self.broker_host,
                    self.broker_port,
                    username=self.username,
                    password=self.password,
                    keepalive=2,
                    timeout=5,
                    socket_options=NODELAY,
                ) as client:
                    for t in (
                        topics.game_state(self.studio),
                        topics.game_events(self.studio),
                        topics.host(self.studio, "presence"),
                    ):
                        await client.subscribe(t, qos=1)
                    self.broker_up = True
                    self._fresh = True
                    self.connected.set()
                    delay = 0.1
                    self._link()
                    async for m in client.messages:
                        payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
                        self.handle(m.topic.value, bytes(payload))
            except aiomqtt.MqttError as e:
                if self.broker_up:
                    log.warning("lost the broker at %s:%d: %s", self.broker_host, self.broker_port, e)
                    self.broker_up = False
                    self.connected.clear()
                    self._link()
                await asyncio.sleep(delay * random.uniform(0.8, 1.2))
                delay = min(delay * 2, self.RECONNECT_MAX_S)


class HttpCommands:
    """``ctx.command`` for a remote adapter: the operator HTTP API with the operator token."""

    def __init__(self, api: str | None, token: str | None) -> None:
        self.api = api.rstrip("/") if api else None
        self.token = token

    async def __call__(self, name: str, **args: Any) -> CommandResult:
        if self.api is None:
            return CommandResult(False, "no operator API configured (--api URL --token T)")
        return await asyncio.to_thread(self._post, name, args)

    def _post(self, name: str, args: dict[str, Any]) -> CommandResult:
        command: CommandBody = {"name": name, "args": args}
        body = json.dumps(command).encode()
        req = urllib.request.Request(
            f"{self.api}/api/command",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token or ''}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=5) as r:
                done: CommandDone | CommandRefusal = json.loads(r.read() or b"{}")
                return CommandResult(bool(done.get("ok")), str(done.get("refused", "")))
        except urllib.error.HTTPError as e:
            try:
                reply: dict[str, Any] = json.loads(e.read() or b"{}")  # a CommandRefusal, an ApiError
            except ValueError:
                reply = {}
            reason = reply.get("refused") or reply.get("error") or f"HTTP {e.code}"
            return CommandResult(False, str(reason))
        except (OSError, ValueError) as e:
            return CommandResult(False, f"operator API unreachable: {e}")
