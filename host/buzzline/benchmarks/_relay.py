"""The bare relay of `bench e2e`: the simplest host there is, to measure Buzzline against.

It relays the first buzz it sees after an arm as a lock on ``podium/all/cmd``: no validation,
no clock, no log, the same MQTT client library as the host (aiomqtt, TCP_NODELAY). It listens
only while it has a press to relay, so it and the real host never compete.

stdin:  ``arm EP`` (subscribe to the buzz topic, arm every podium with epoch EP), ``quit``
stdout: ``ready``, ``armed EP``, ``locked EP`` (once the lock is out and it stopped listening)
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import aiomqtt
from buzzline_protocol import codec, topics

from buzzline.benchmarks._procs import say
from buzzline.io.broker import NODELAY

CS_BASE = 1 << 50  # far from the host's command sequence: a podium ignores only a repeated cs


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--studio", required=True)
    a = ap.parse_args(argv)
    up = topics.podium_filter(a.studio, "up")
    cmd = topics.podium(a.studio, topics.ALL, "cmd")
    cs = CS_BASE
    epoch: list[int] = []  # the press in progress
    async with aiomqtt.Client(a.host, a.port, identifier="bare-relay", socket_options=NODELAY) as client:

        async def relay() -> None:
            async for m in client.messages:
                if epoch and b'"t":"buzz"' in bytes(m.payload):
                    ep = epoch.pop()
                    await client.publish(cmd, codec.encode({"t": "lock", "ep": ep, "cs": cs + 1}), qos=1)
                    await client.unsubscribe(up)
                    say(f"locked {ep}")

        task = asyncio.create_task(relay())
        reader = asyncio.StreamReader()
        loop = asyncio.get_running_loop()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        say("ready")
        while line := (await reader.readline()).decode().split():
            if line[0] == "quit":
                break
            if line[0] == "arm":
                ep = int(line[1])
                cs += 2
                await client.subscribe(up, qos=1)
                epoch[:] = [ep]
                await client.publish(cmd, codec.encode({"t": "arm", "ep": ep, "cs": cs}), qos=1)
                say(f"armed {ep}")
        task.cancel()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
