"""An MQTT client that gives up on a dead connection attempt at once (aiomqtt waits its timeout)."""

from __future__ import annotations

from typing import Any

import aiomqtt
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode


class FailFastClient(aiomqtt.Client):
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
