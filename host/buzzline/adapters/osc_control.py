"""The ``osc-control`` adapter: operator commands from OSC (TouchOSC, Companion's OSC buttons, a
desk's macros), and the game state back to feedback targets.

It listens on UDP at ``bind`` (loopback by default). A datagram from a source outside ``allow``
(CIDR blocks; loopback by default) is dropped and counted, and so is anything that is not an
OSC message or names no command. A command goes through ``ctx.command`` (the one operator
interface); a refusal is answered with ``/buzzline/error <reason>`` to the sender and the
feedback targets. After every notice the targets get ``/buzzline/state/...``.
docs/adapters/osc-control.md lists every message.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import Any

from buzzline.adapters.api import (
    Adapter,
    AdapterContext,
    ConfigError,
    Field,
    GameView,
    Notice,
    Problem,
    Status,
    podium_view,
    podiums_of,
)
from buzzline.adapters.oscwire import OscError, allowed, build, networks, parse

log = logging.getLogger(__name__)

# address (after the prefix) -> (command, fixed args, names of the OSC arguments it takes)
COMMANDS: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "/read": ("read", {}, ()),
    "/arm": ("arm", {}, ()),
    "/judge": ("judge", {}, ("verdict",)),
    "/judge/right": ("judge", {"correct": True}, ()),
    "/judge/wrong": ("judge", {"correct": False}, ()),
    "/timeout": ("timeout", {}, ()),
    "/next": ("next", {}, ()),
    "/undo": ("undo", {}, ()),
    "/redo": ("redo", {}, ()),
    "/adjust": ("adjust", {}, ("player", "delta")),
    "/identify": ("identify", {}, ("podium",)),
}
VERDICTS = {"right": True, "correct": True, "wrong": False, "incorrect": False}


class Refusal(ValueError):
    """A message that names a command but cannot be one (wrong arguments)."""


def command_of(prefix: str, address: str, args: list[Any]) -> tuple[str, dict[str, Any]] | None:
    """The operator command an OSC message stands for; None for a button's release (a lone 0)
    or an address that is not ours; Refusal for wrong arguments."""
    if not address.startswith(prefix + "/"):
        return None
    spec = COMMANDS.get(address[len(prefix) :])
    if spec is None:
        raise Refusal(f"unknown address {address} (known: {', '.join(prefix + a for a in COMMANDS)})")
    name, fixed, wanted = spec
    if not wanted:
        if len(args) == 1 and isinstance(args[0], int | float) and not isinstance(args[0], bool):
            if args[0] == 0:
                return None  # a button sends 1 on press and 0 on release: only the press acts
        elif args:
            raise Refusal(f"{address} takes no arguments")
        return name, dict(fixed)
    if len(args) != len(wanted):
        raise Refusal(f"{address} takes {len(wanted)} argument(s): {' '.join(wanted)}")
    out: dict[str, Any] = dict(fixed)
    for key, value in zip(wanted, args, strict=True):
        if key == "verdict":
            if not isinstance(value, str) or value.lower() not in VERDICTS:
                raise Refusal(f'{address} takes "right" or "wrong", got {value!r}')
            out["correct"] = VERDICTS[value.lower()]
        elif key == "delta":
            if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
                raise Refusal(f"{address}: delta must be a whole number, got {value!r}")
            out["delta"] = int(value)
        else:
            if not isinstance(value, str) or not value:
                raise Refusal(f"{address}: {key} must be text, got {value!r}")
            out[key] = value
    return name, out


def parse_target(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError("feedback", f"{text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


class _Listener(asyncio.DatagramProtocol):
    def __init__(self, owner: OscControlAdapter) -> None:
        self.owner = owner
        self.closed = asyncio.Event()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed.set()

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner.received(data, (str(addr[0]), int(addr[1])))


class OscControlAdapter(Adapter):
    KIND = "osc-control"
    TITLE = "OSC in: operator commands from TouchOSC, Companion or a desk; game state back"
    CONFIG_SCHEMA = (
        Field("bind", "str", "127.0.0.1", "the address to listen on"),
        Field("port", "int", 9100, "the UDP port to listen on", min=1, max=65535),
        Field("allow", "list", ["127.0.0.0/8", "::1/128"], "source addresses allowed (CIDR blocks)"),
        Field("feedback", "list", [], "HOST:PORT targets that get the game state"),
        Field("prefix", "str", "/buzzline", "the address prefix of every message"),
        Field(
            "refresh_s", "float", 5.0, "resend the whole state this often (0: only changes)", min=0, max=3600
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.received_ok = 0
        self.denied = 0  # from a source outside the allow-list
        self.malformed = 0  # not OSC, or not one of our commands
        self.refused = 0
        self._transport: asyncio.DatagramTransport | None = None
        self._listener: _Listener | None = None
        self._targets: list[tuple[str, int]] = []
        self._pending: set[asyncio.Task[None]] = set()
        self._last: dict[str, bytes] = {}
        self._timer = 0
        self._refresher: asyncio.Task[None] | None = None

    @classmethod
    async def preflight(cls, config: dict[str, Any]) -> list[Problem]:
        """The settings ``start`` checks, and the listening port free."""
        try:
            networks(config["allow"])
            [parse_target(t) for t in config["feedback"]]
        except ConfigError as e:
            return [Problem("error", str(e))]
        where = f"udp {config['bind']}:{config['port']}"
        try:
            probe = socket.socket(
                socket.AF_INET6 if ":" in config["bind"] else socket.AF_INET, socket.SOCK_DGRAM
            )
            with probe:
                probe.bind((config["bind"], config["port"]))
        except OSError as e:
            why = e.strerror or str(e)
            return [
                Problem(
                    "error",
                    f"cannot listen on {where}: {why}",
                    "another program (a host already running?) holds it",
                )
            ]
        return []

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        try:
            self._nets = networks(config["allow"])
            self._targets = [parse_target(t) for t in config["feedback"]]
            if not config["prefix"].startswith("/") or config["prefix"].endswith("/"):
                raise ConfigError("prefix", "must start with / and not end with one")
        except ConfigError as e:
            ctx.set_status(Status.BAD_CONFIG, str(e))
            return  # listens to nothing until reconfigured
        loop = asyncio.get_running_loop()
        transport, listener = await loop.create_datagram_endpoint(
            lambda: _Listener(self), local_addr=(config["bind"], config["port"])
        )
        self._transport, self._listener = transport, listener
        ctx.set_status(Status.OK, f"listening on udp {config['bind']}:{config['port']}")
        if self._targets and config["refresh_s"] > 0:
            self._refresher = asyncio.create_task(self._refresh(), name=f"osc-control:{ctx.name}")

    async def stop(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
            self._refresher = None
        for t in list(self._pending):
            t.cancel()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._listener is not None:
            # the socket closes on the loop's next turn: a reconfigure binds the same port again
            await self._listener.closed.wait()
            self._listener = None

    # ---- inbound ---------------------------------------------------------------------------------
    def received(self, data: bytes, addr: tuple[str, int]) -> None:
        if not allowed(addr[0], self._nets):
            self.denied += 1
            if self.denied in (1, 10, 100) or self.denied % 1000 == 0:
                self.ctx.log.warning("dropped OSC from %s (not in allow): %d so far", addr[0], self.denied)
            return
        try:
            address, args = parse(data)
            cmd = command_of(self.config["prefix"], address, args)
        except OscError as e:
            self.malformed += 1
            self.ctx.log.info("malformed OSC from %s: %s", addr[0], e)
            return
        except Refusal as e:
            self.malformed += 1
            self._error(str(e), addr)
            return
        if cmd is None:
            return
        self.received_ok += 1
        task = asyncio.create_task(self._run(cmd[0], cmd[1], addr))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _run(self, name: str, args: dict[str, Any], addr: tuple[str, int]) -> None:
        result = await self.ctx.command(name, **args)
        if not result.ok:
            self.refused += 1
            self._error(f"{name}: {result.reason}", addr)

    def _error(self, reason: str, addr: tuple[str, int]) -> None:
        data = build(self.config["prefix"] + "/error", [reason[:300]])
        self._sendto(data, addr)
        for t in self._targets:
            if t != addr:
                self._sendto(data, t)

    def _sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is None:
            return
        with contextlib.suppress(OSError):
            self._transport.sendto(data, addr)

    # ---- feedback --------------------------------------------------------------------------------
    async def handle(self, notice: Notice) -> None:
        if not self._targets:
            return
        for e in notice.events:
            if e.get("k") == "timer_started":
                self._timer = int(e.get("ms") or 0)
            elif e.get("k") in ("timer_expired", "question", "locked") or (
                e.get("k") == "phase" and e.get("phase") not in ("open", "answering")
            ):
                self._timer = 0
        self._feedback(notice.view)

    def _feedback(self, view: GameView) -> None:
        for path, args in self.state(view):
            data = build(path, args)
            if self._last.get(path) == data:
                continue  # unchanged: targets already show it
            self._last[path] = data
            for t in self._targets:
                self._sendto(data, t)

    async def _refresh(self) -> None:
        """A tablet that restarted has lost what it showed: everything again, now and then."""
        while True:
            await asyncio.sleep(self.config["refresh_s"])
            self._last.clear()
            self._feedback(self.ctx.view())

    def state(self, view: GameView) -> list[tuple[str, list[Any]]]:
        p = self.config["prefix"] + "/state"
        pods = podiums_of(view)
        winner = podium_view(view, view.get("winner")).get("player") or ""
        out: list[tuple[str, list[Any]]] = [
            (p + "/phase", [str(view.get("phase", ""))]),
            (p + "/question", [int(view.get("q", 0))]),
            (p + "/winner", [winner]),
            (p + "/timer", [self._timer]),
        ]
        scores = view.get("scores", {})
        for info_p in sorted(pods.values(), key=lambda i: i.get("seat") or 0):
            seat = info_p.get("seat")
            if isinstance(seat, int):
                out.append((f"{p}/score/{seat}", [int(scores.get(info_p.get("player") or "", 0))]))
                out.append((f"{p}/player/{seat}", [str(info_p.get("player") or "")]))
        return out
