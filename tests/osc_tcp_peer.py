"""A python-osc TCP server in its own process, standing in for a desk that speaks OSC over TCP:
``python tests/osc_tcp_peer.py PORT 1.1|1.0`` prints ``ready`` then one line per message
(``path args...``), and answers ``/eos/ping`` with ``/eos/out/ping`` as Eos does."""

from __future__ import annotations

import sys
from typing import Any

from pythonosc.dispatcher import Dispatcher
from pythonosc.osc_tcp_server import ThreadingOSCTCPServer


def show(address: str, *args: Any) -> None:
    print(address, *(f"{type(a).__name__}:{a}" for a in args), flush=True)


def ping(address: str, *args: Any) -> tuple[str]:
    show(address, *args)
    return ("/eos/out/ping",)


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    d = Dispatcher()
    d.map("/eos/ping", ping)
    d.set_default_handler(show)
    ThreadingOSCTCPServer.allow_reuse_address = True  # restarted on the same port by a test
    server = ThreadingOSCTCPServer(("127.0.0.1", port), d, mode=mode)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
