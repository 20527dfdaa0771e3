"""A receiver for ``bench adapters``, in its own process: prints ``ready``, then one line per
thing received, stamped with CLOCK_MONOTONIC in ns (the same clock as the host's on Linux).

``osc PORT``: ``<ns> <path> <first argument>`` per datagram.
``dmx FD``: ``<ns> <r> <g> <b>`` (seat 1's fixture) per label 6 frame whose seat 1 changed, read
from the master side of a pty (an inherited file descriptor) whose other side the adapter opened.
"""

from __future__ import annotations

import os
import socket
import sys
import time

from pythonosc.osc_message import OscMessage


def osc(port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", port))
        print("ready", flush=True)
        while True:
            data = s.recv(65536)
            t = time.monotonic_ns()
            msg = OscMessage(data)
            arg = msg.params[0] if msg.params else ""
            print(t, msg.address, arg, flush=True)


def dmx(fd: int) -> None:
    print("ready", flush=True)
    buf = bytearray()
    last = b""
    while True:
        data = os.read(fd, 65536)
        t = time.monotonic_ns()
        buf += data
        while len(buf) >= 5:
            if buf[0] != 0x7E:
                del buf[0]
                continue
            n = buf[2] | buf[3] << 8
            if len(buf) < 5 + n:
                break
            seat1 = bytes(buf[5:8])
            del buf[: 5 + n]
            if seat1 != last:
                last = seat1
                print(t, *seat1, flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "osc":
        osc(int(sys.argv[2]))
    else:
        dmx(int(sys.argv[2]))
