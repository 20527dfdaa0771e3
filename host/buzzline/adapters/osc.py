"""The ``osc`` adapter: notices to a lighting desk, sound or show-control software over OSC.

UDP, TCP with SLIP framing (OSC 1.1) or TCP with a length prefix (OSC 1.0). Notices become
happenings (``stage``), happenings become messages through the preset's mapping rules merged
with the show file's (``oscpresets``, ``oscwire``), and messages leave through a per-target rate
limiter that keeps the latest message per path. Status: ``ok`` once the socket is open, or, for
desks that answer pings (Eos, QLab), while they answer; ``disconnected`` on a TCP error, with
reconnects. docs/adapters/osc.md has every setting and every preset's table.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
from typing import Any

from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Notice, Problem, Status
from buzzline.adapters.oscpresets import PRESETS, merged
from buzzline.adapters.oscwire import (
    Deframer,
    OscError,
    RateLimiter,
    Rule,
    build,
    frame,
    message,
    parse,
    parse_rules,
    resolve_vars,
)
from buzzline.adapters.stage import Happening, Stage
from buzzline.hosttime import now_us
from buzzline.io.broker import udp_bound

TRANSPORTS = ("udp", "tcp-slip", "tcp-length")
PROBE_S = 1.5  # how long the pre-show check waits for a desk
MAX_BACKLOG = 1 << 20  # bytes a stalled TCP peer may hold back before the link is reset


class _Udp(asyncio.DatagramProtocol):
    def __init__(self, owner: OscDeskAdapter) -> None:
        self.owner = owner

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.owner._received(data)

    def error_received(self, exc: Exception) -> None:
        # an ICMP port unreachable: nobody listens there (yet); UDP carries on
        self.owner.errors += 1


def _reason(e: OSError) -> str:
    """ "connection refused", not asyncio's "Connect call failed ('127.0.0.1', 7700)"."""
    text = os.strerror(e.errno) if e.errno else (e.strerror or str(e))
    return text[:1].lower() + text[1:]


async def _answers_ping(host: str, port: int, ping: tuple[str, tuple[Any, ...]], pong: str) -> bool:
    """One ping to a desk that answers them (Eos, QLab), and its answer within ``PROBE_S``."""
    answered = asyncio.Event()

    class _Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
            with contextlib.suppress(OscError):
                if parse(data)[0].startswith(pong):
                    answered.set()

    loop = asyncio.get_running_loop()
    try:
        transport, _ = await loop.create_datagram_endpoint(_Probe, remote_addr=(host, port))
    except OSError:
        return False
    try:
        transport.sendto(build(ping[0], list(ping[1])))
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(PROBE_S):
                await answered.wait()
    finally:
        transport.close()
    return answered.is_set()


async def _web_answers(where: str) -> list[Problem]:
    """The desk's web interface (QLC+'s ``-w``) answers an HTTP request within ``PROBE_S``."""
    host, sep, port_text = where.rpartition(":")
    if not sep or not port_text.isdigit():
        return [Problem("error", f"web: expected HOST:PORT, got {where!r}", 'e.g. web = "127.0.0.1:9999"')]
    try:
        async with asyncio.timeout(PROBE_S):
            reader, writer = await asyncio.open_connection(host, int(port_text))
            writer.write(f"GET / HTTP/1.0\r\nHost: {host}\r\n\r\n".encode())
            status = await reader.readline()
        writer.close()
    except (OSError, TimeoutError) as e:
        why = f"no answer within {PROBE_S:g} s" if isinstance(e, TimeoutError) else _reason(e)
        hint = "is the desk running with its web interface on?"
        return [Problem("warning", f"web interface {where}: {why}", hint)]
    if not status.startswith(b"HTTP/"):
        return [Problem("warning", f"web interface {where}: not an HTTP server")]
    return []


class OscDeskAdapter(Adapter):
    KIND = "osc"
    TITLE = "OSC out: lighting desks (QLC+, Eos, grandMA3), QLab, Companion variables"
    CONFIG_SCHEMA = (
        Field("host", "str", "127.0.0.1", "the desk's address"),
        Field("port", "int", 0, "the desk's OSC port (0: the preset's)", min=0, max=65535),
        Field(
            "transport",
            "choice",
            "udp",
            "udp, tcp-slip (OSC 1.1) or tcp-length (OSC 1.0)",
            choices=TRANSPORTS,
        ),
        Field("preset", "choice", "none", "a ready mapping table", choices=tuple(PRESETS)),
        Field("vars", "table", {}, "template variables (a list is indexed by seat)"),
        Field("map", "table", {}, "mapping rules by name, merged over the preset's"),
        Field("rate", "float", 500.0, "messages per second to this target", min=1, max=100000),
        Field("burst", "int", 64, "messages that may go at once before the rate applies", min=1, max=10000),
        Field("ping", "bool", True, "ping desks that answer (Eos, QLab): ok only while they do"),
        Field("ping_s", "float", 1.0, "ping period for desks that answer (Eos, QLab)", min=0.1, max=60),
        Field("web", "str", "", "the desk's web interface HOST:PORT (QLC+ -w): the pre-show check asks it"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.stage = Stage()
        self.sent = 0
        self.errors = 0
        self.dropped = 0  # rules that did not apply (a missing variable), counted
        self._rules: dict[str, list[tuple[Rule, bool]]] = {}
        self._vars: dict[str, Any] = {}
        self._bad = False
        self._udp: asyncio.DatagramTransport | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        self._down: dict[str, bytes] = {}  # latest per path while a TCP link is down
        self._last_pong = 0.0
        self._pinged = 0.0
        self._linked_at = 0.0
        self.limiter = RateLimiter(500, 64)

    # ---- lifecycle -------------------------------------------------------------------------------
    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        self.preset = PRESETS[config["preset"]]
        self._rules, self._bad = {}, False  # a reconfigure starts again: built anew, never appended
        try:
            table, self._vars = merged(self.preset, config["map"], config["vars"])
            rules = parse_rules(table)
        except ConfigError as e:
            self._bad = True
            ctx.set_status(Status.BAD_CONFIG, str(e))
            return
        for rule in rules.values():
            if rule.flag:
                self._rules.setdefault("set:" + rule.trigger, []).append((rule, True))
                self._rules.setdefault("clear:" + rule.trigger, []).append((rule, False))
            else:
                self._rules.setdefault(rule.trigger, []).append((rule, True))
        self.limiter = RateLimiter(config["rate"], config["burst"])
        self.port = config["port"] or self.preset.port_for(config["transport"])
        self.target = f"{config['transport']} {config['host']}:{self.port}"
        ctx.set_status(Status.CONNECTING, self.target)
        if config["transport"] == "udp":
            loop = asyncio.get_running_loop()
            try:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda: _Udp(self), remote_addr=(config["host"], self.port)
                )
            except OSError as e:
                ctx.set_status(Status.DISCONNECTED, f"{self.target}: {e}")
                raise
            self._udp = transport
            self._linked()
        else:
            self._tasks.append(asyncio.create_task(self._tcp_loop(), name=f"osc-tcp:{ctx.name}"))
        self._tasks.append(asyncio.create_task(self._timer_loop(), name=f"osc-timer:{ctx.name}"))

    @classmethod
    async def preflight(cls, config: dict[str, Any]) -> list[Problem]:
        """The mapping rules, then the desk: a TCP desk accepts a connection; a desk that answers
        pings (Eos, QLab) answers one; a desk on this machine (QLC+) holds its UDP port; a web
        interface given as ``web`` (QLC+'s) answers."""
        preset = PRESETS[config["preset"]]
        try:
            table, _ = merged(preset, config["map"], config["vars"])
            parse_rules(table)
        except ConfigError as e:
            return [Problem("error", str(e), "docs/adapters/osc.md has the mapping rules")]
        host, transport = config["host"], config["transport"]
        port = config["port"] or preset.port_for(transport)
        target = f"{transport} {host}:{port}"
        out = await _web_answers(config["web"]) if config["web"] else []
        if transport != "udp":
            try:
                async with asyncio.timeout(PROBE_S):
                    _, writer = await asyncio.open_connection(host, port)
                writer.close()
            except (OSError, TimeoutError) as e:
                why = f"no answer within {PROBE_S:g} s" if isinstance(e, TimeoutError) else _reason(e)
                out.append(Problem("error", f"{target}: {why}", "is the desk running, with OSC over TCP on?"))
        elif preset.ping is not None and config["ping"]:
            if not await _answers_ping(host, port, preset.ping, preset.pong):
                what = f"{target}: no answer to {preset.ping[0]} within {PROBE_S:g} s"
                out.append(Problem("warning", what, "is the desk on, with its OSC input enabled?"))
        elif host in ("127.0.0.1", "localhost", "::1") and not udp_bound(port):
            out.append(
                Problem("warning", f"{target}: nothing on this machine listens there", "start the desk first")
            )
        return out

    async def stop(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._udp is not None:
            self._udp.close()
            self._udp = None
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def handle(self, notice: Notice) -> None:
        if self._bad:
            return
        started = self.stage.started
        happenings = self.stage.apply(notice, now_us())
        # the first game state: all of it, so the desk starts where the show stands
        self.emit(self.stage.snapshot() if self.stage.started and not started else happenings)
        if self.stage.next_deadline() is not None:
            self._wake.set()  # the timer loop sleeps until the earliest deadline it knew of

    # ---- mapping ---------------------------------------------------------------------------------
    def emit(self, happenings: list[Happening]) -> None:
        for h in happenings:
            for rule, setting in self._rules.get(h.trigger, ()):
                ctx = resolve_vars(self._vars, h.ctx)
                try:
                    path, args = message(rule, setting, ctx)
                    data = build(path, args)
                except (KeyError, OscError):
                    self.dropped += 1  # this rule does not apply here (no seat, no such variable)
                    continue
                self._send(path, data)

    def _send(self, path: str, data: bytes) -> None:
        if not self._linked_now():
            self._down.pop(path, None)
            self._down[path] = data
            return
        for d in self.limiter.offer(path, data, time.monotonic()):
            self._write(d)
        if self.limiter.pending:
            self._wake.set()

    def _write(self, data: bytes) -> None:
        if self._udp is not None:
            self._udp.sendto(data)
            self.sent += 1
        elif self._writer is not None:
            self._writer.write(frame(data, self.config["transport"][4:]))
            self.sent += 1
            if self._writer.transport.get_write_buffer_size() > MAX_BACKLOG:
                self._writer.transport.abort()  # the reader task sees the loss and reconnects

    def _linked_now(self) -> bool:
        return self._udp is not None or self._writer is not None

    def _linked(self) -> None:
        """The link is up: say hello (``connect`` rules), then the whole state, then what waited."""
        if self._ping_msg() is None:
            self.ctx.set_status(Status.OK, self.target)
        self.emit([Happening("connect", resolve_vars(self._vars, self.stage.context()))])
        if self.stage.started:
            self.emit(self.stage.snapshot())
        down, self._down = self._down, {}
        for path, data in down.items():
            self._send(path, data)
        self._wake.set()

    # ---- peers that answer -----------------------------------------------------------------------
    def _received(self, data: bytes) -> None:
        try:
            address, _ = parse(data)
        except OscError:
            self.errors += 1
            return
        if self.preset.pong and address.startswith(self.preset.pong):
            self._last_pong = time.monotonic()
            self.ctx.set_status(Status.OK, self.target)

    def _ping_msg(self) -> tuple[str, tuple[Any, ...]] | None:
        return self.preset.ping if self.config["ping"] else None

    def _ping(self, now: float) -> float | None:
        ping = self._ping_msg()
        if ping is None or not self._linked_now():
            return None
        period = float(self.config["ping_s"])
        if now - self._pinged >= period:
            self._pinged = now
            self._write(build(ping[0], list(ping[1])))
            if self._last_pong and now - self._last_pong > 3 * period:
                self.ctx.set_status(Status.DISCONNECTED, f"{self.target}: no answer to {ping[0]}")
            elif not self._last_pong and now - self._linked_at > 3 * period:
                self.ctx.set_status(Status.CONNECTING, f"{self.target}: waiting for an answer to {ping[0]}")
        return self._pinged + period

    async def _timer_loop(self) -> None:
        self._linked_at = self._linked_at or time.monotonic()
        while True:
            now = time.monotonic()
            for d in self.limiter.due(now):
                self._write(d)
            self.emit(self.stage.expire(now_us()))
            times = [self.limiter.next_time(), self._ping(now)]
            deadline = self.stage.next_deadline()
            if deadline is not None:
                times.append(now + (deadline - now_us()) / 1e6)
            wake = min((t for t in times if t is not None), default=None)
            self._wake.clear()
            timeout = None if wake is None else max(0.0, wake - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await self._wake.wait()

    # ---- TCP -------------------------------------------------------------------------------------
    async def _tcp_loop(self) -> None:
        delay = 0.1
        framing = self.config["transport"][4:]
        while True:
            try:
                reader, writer = await asyncio.open_connection(self.config["host"], self.port)
            except OSError as e:
                self.ctx.set_status(Status.DISCONNECTED, f"{self.target}: {e.strerror or e}")
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)
                continue
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            delay = 0.1
            self._writer = writer
            self._linked_at = time.monotonic()
            self._linked()
            deframer = Deframer(framing)
            reason = "closed by the peer"
            try:
                while data := await reader.read(65536):
                    for msg in deframer.feed(data):
                        self._received(msg)
            except OscError as e:
                reason = f"bad framing from the peer: {e}"
            except OSError as e:
                reason = e.strerror or str(e)
            self._writer = None
            writer.close()
            self.ctx.set_status(Status.DISCONNECTED, f"{self.target}: {reason}")
            await asyncio.sleep(delay)
