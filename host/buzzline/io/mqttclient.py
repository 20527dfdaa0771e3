"""MQTT clients, and the one door to aiomqtt's and paho's internals.

``DirectWriteClient`` can write a publish to the socket before returning (``send_now``), write
a QoS 0 publish in one send (``send_qos0``), hand every message read to a callback without a task
per message (``hook_reads``), tap the socket's sends (``wrap_sends``) and cut the connection
without a DISCONNECT (``cut``). ``FailFastClient`` also gives up on a dead connection attempt at
once (aiomqtt waits its timeout). Nothing else in Buzzline touches a private name of aiomqtt or
paho: they are listed in ``INTERNALS``, the two libraries are pinned to exact versions in
pyproject.toml, and every client checks on construction that the names are still there
(``MissingInternals``; tests/test_mqtt_internals.py checks it too).
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import socket
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

MessageInfo = mqtt.MQTTMessageInfo  # what a publish returns: its mid, is_published()

# The private names used below, by owner: aiomqtt's Client, and paho's Client under it.
INTERNALS: dict[str, tuple[str, ...]] = {
    "aiomqtt.Client": (
        "_client",  # the paho client: the publish and read paths without a task
        "_queue",  # messages aiomqtt read before hook_reads took over
        "_connected",
        "_disconnected",  # futures: the connection's start and end
        "_loop",
        "_pending_call",
        "_pending_publishes",  # waiting on one publish's acknowledgement
        "_wait_for",
        "_on_socket_register_write",  # overridden: the writer registered on the loop's thread
        "_on_disconnect",  # overridden: a failed connection attempt ends at once
    ),
    "paho.mqtt.client.Client": (
        "_out_packet",  # paho's outgoing queue: nothing waiting, or the lock ahead of PUBACKs
        "_protocol",  # MQTT 3.1.1 or 5, for the raw QoS 0 PUBLISH
        "_sock_send",  # tapped by wrap_sends
    ),
}


class MissingInternals(RuntimeError):
    """aiomqtt or paho no longer has a private name Buzzline uses: pin the version it was built for."""


def missing_internals(client: aiomqtt.Client) -> list[str]:
    """The names of ``INTERNALS`` this client (and its paho client) lacks."""
    owners = {"aiomqtt.Client": client, "paho.mqtt.client.Client": getattr(client, "_client", None)}
    return [
        f"{owner}.{name}"
        for owner, names in INTERNALS.items()
        for name in names
        if owners[owner] is None or not hasattr(owners[owner], name)
    ]


def _version(dist: str) -> str:
    try:
        return version(dist)
    except PackageNotFoundError:
        return "(not installed)"


def _is_publish(packet: Any, mid: int) -> bool:
    """A queued paho packet is the PUBLISH with this message id."""
    return bool(packet["command"] & 0xF0 == mqtt.PUBLISH and packet["mid"] == mid)


def send_all(sock: Any, data: bytes) -> None:
    """Write all of ``data`` to a non-blocking socket, waiting for room as needed; a connection
    that has gone takes nothing (whoever reads it sees the end)."""
    view = memoryview(data)
    while view:
        try:
            view = view[sock.send(bytes(view)) :]
        except BlockingIOError:
            select.select([], [sock], [], 1.0)
        except OSError:
            return


class DirectWriteClient(aiomqtt.Client):
    """An aiomqtt client whose publishes can be written to the socket by their caller.

    aiomqtt registers its socket writer through ``call_soon_threadsafe`` (paho may ask from the
    connect thread) but unregisters it at once. A caller that writes the packet itself
    (``paho.loop_write()``, as ``send_now`` does) unregisters before
    the deferred registration runs, and the writer then stays registered on a socket that is
    always writable: the event loop calls it on every pass and burns a core until some other
    publish goes the usual way. Here the registration is made at once when paho asks from the
    loop's own thread, so the two stay paired.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        missing = missing_internals(self)
        if missing:
            raise MissingInternals(
                f"aiomqtt {_version('aiomqtt')} / paho-mqtt {_version('paho-mqtt')} lack {', '.join(missing)}"
                " (install the versions pinned in pyproject.toml)"
            )

    def end_handled(self) -> None:
        """The owner has dealt with the connection's end (it read the error, or reconnects):
        asyncio need not log that end's error as a future's exception never retrieved, as it
        did once for every simulated podium at each broker kill of ``bench chaos``."""
        ended = self._disconnected
        if ended.done() and not ended.cancelled():
            ended.exception()

    def _on_socket_register_write(self, client: mqtt.Client, userdata: Any, sock: Any) -> None:
        def write() -> None:
            try:
                client.loop_write()
            except Exception as exc:  # a broken pipe: the connection is gone
                if not self._disconnected.done():
                    self._disconnected.set_exception(exc)

        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._loop.add_writer(sock.fileno(), write)
        else:
            self._loop.call_soon_threadsafe(self._loop.add_writer, sock.fileno(), write)

    def send(
        self,
        topic: str,
        payload: bytes,
        qos: int = 0,
        retain: bool = False,
        now: bool = False,
        ahead_of_acks: bool = False,
    ) -> MessageInfo:
        """Hand a publish to paho's outgoing queue at once, without a task and without waiting
        for its acknowledgement (``await confirmed(info)`` does); the queue keeps the order of
        sends. ``now``: write the queue to the socket before returning (``send_now``).
        Raises ``aiomqtt.MqttCodeError`` when not connected."""
        paho = self._client
        info = paho.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise aiomqtt.MqttCodeError(info.rc, "Could not publish message")
        if now:
            q = paho._out_packet
            # ahead of acknowledgements already queued (a buzz's own PUBACK): their order means
            # nothing to MQTT, and every send on loopback may hand the CPU to the broker it wakes
            acks_only = all(p["command"] == mqtt.PUBACK and p["pos"] == 0 for p in list(q)[:-1])
            if ahead_of_acks and len(q) > 1 and _is_publish(q[-1], info.mid) and acks_only:
                q.rotate(1)
            paho.loop_write()
        return info

    def send_now(
        self, topic: str, payload: bytes, qos: int = 0, retain: bool = False, ahead_of_acks: bool = False
    ) -> MessageInfo:
        """Publish and write the packet to the socket before returning, as the firmware writes a
        press in the scheduler pass of its IRQ. ``aiomqtt``'s ``publish`` leaves the write to a
        later pass of the event loop (its writer callback), which on a busy loop is a millisecond
        or more after a timestamp taken for the message. ``ahead_of_acks``: the packet goes to
        the socket before acknowledgements paho had queued. Raises ``aiomqtt.MqttCodeError``
        when not connected."""
        return self.send(topic, payload, qos, retain, now=True, ahead_of_acks=ahead_of_acks)

    def send_qos0(self, topic: str, payload: bytes) -> bool:
        """Write a QoS 0 PUBLISH straight to the socket, in one send, when nothing of paho's is
        waiting to be written (so nothing can interleave); False when it cannot, and the caller
        publishes the usual way. Paho's publish path costs a few hundred microseconds in Python
        (measured 0.4 ms from a timestamp to the bytes leaving, on this project's 2-core VM):
        too long for a clock-sync timestamp (``t1``, ``t3``) taken just before it."""
        paho = self._client
        sock = paho.socket()
        if sock is None or paho._out_packet or not paho.is_connected():
            return False
        t = topic.encode()
        n = 2 + len(t) + len(payload) + (1 if paho._protocol == mqtt.MQTTv5 else 0)
        head = bytearray([0x30])  # PUBLISH, QoS 0, no retain
        while True:  # the remaining length, 7 bits a byte
            byte, n = n & 0x7F, n >> 7
            head.append(byte | (0x80 if n else 0))
            if not n:
                break
        head += len(t).to_bytes(2, "big") + t
        if paho._protocol == mqtt.MQTTv5:
            head.append(0)  # no properties
        packet = bytes(head) + payload
        try:
            sent = sock.send(packet)
        except OSError:  # full or gone: the usual way says which
            return False
        # a partial send of a packet this small is rare; finish it, nothing may interleave (a
        # connection that has gone meanwhile is paho's reader's to see)
        send_all(sock, packet[sent:])
        return True

    async def confirmed(self, info: mqtt.MQTTMessageInfo) -> None:
        """Until the broker has acknowledged ``info``'s publish (``MqttError`` after ``timeout``)."""
        if info.is_published():
            return
        done = asyncio.Event()
        with self._pending_call(info.mid, done, self._pending_publishes):
            if info.is_published():  # acknowledged before the call was registered
                return
            await self._wait_for(done.wait(), timeout=None)

    def hook_reads(
        self, on_message: Callable[[str, bytes], None], on_gone: Callable[[], None]
    ) -> list[tuple[str, bytes]]:
        """From now on, hand each message to ``on_message`` from paho's read callback (no queue,
        no task per message) and call ``on_gone`` when the connection ends; returns what aiomqtt
        had queued before (a persistent session's backlog), in order. Call right after connecting."""
        paho = self._client
        early: list[tuple[str, bytes]] = []
        while not self._queue.empty():
            m = self._queue.get_nowait()
            payload = m.payload if isinstance(m.payload, bytes | bytearray) else b""
            early.append((m.topic.value, bytes(payload)))
        inner_disconnect = paho.on_disconnect

        def read(_c: Any, _u: Any, m: Any) -> None:
            on_message(m.topic, bytes(m.payload))

        def disconnected(*args: Any) -> None:
            on_gone()
            if inner_disconnect is not None:
                inner_disconnect(*args)

        paho.on_message = read
        paho.on_disconnect = disconnected
        # aiomqtt also ends the connection without paho's callback (a read that raised)
        self._disconnected.add_done_callback(lambda _: on_gone())
        return early

    @property
    def waiting(self) -> int:
        """Packets paho has queued to write (they go to the socket ahead of a new one)."""
        return len(self._client._out_packet)

    @property
    def gone(self) -> bool:
        """The connection has ended (or never started)."""
        return self._disconnected.done() or not self._client.is_connected()

    def wrap_sends(
        self, wrap: Callable[[Callable[[bytes | bytearray], int]], Callable[[bytes | bytearray], int]]
    ) -> None:
        """Replace the socket send paho writes every packet through with ``wrap(send)``: a
        benchmark stamps the lock's bytes there, a test reads the order of packets."""
        paho = self._client
        paho._sock_send = wrap(paho._sock_send)  # type: ignore[method-assign,assignment]

    def cut(self) -> None:
        """End the connection as a power loss would: no DISCONNECT, so the broker sends the will."""
        sock = self._client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class FailFastClient(DirectWriteClient):
    """Fails a connection attempt as soon as the socket closes before the broker's CONNACK.

    aiomqtt leaves the attempt waiting out its whole timeout then: a podium retrying through a
    proxy whose broker is down would be back a timeout after the broker, not a retry after it.
    """

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None = None,
    ) -> None:
        if not self._connected.done():
            why = f"connection closed before CONNACK ({reason_code})"
            self._connected.set_exception(aiomqtt.MqttError(why))
            return
        super()._on_disconnect(client, userdata, flags, reason_code, properties)
