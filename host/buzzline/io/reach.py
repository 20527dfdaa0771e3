"""Can we reach the broker and log in? One connect before a command starts its real clients, so a
wrong address or password is told in one line within seconds, not as a timeout deep in a task."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

import aiomqtt

from buzzline.errors import UserError

CONNECT_TIMEOUT_S = 5.0
RETRY_S = 2.0
# CONNACK codes that retrying cannot fix: the account is wrong, not the network
_AUTH_WORDS = ("authori", "user name or password", "bad username")


async def check_broker(
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    timeout: float = CONNECT_TIMEOUT_S,
    can_wait: bool = True,
) -> None:
    """Connect once and leave; raises ``UserError`` naming the address and the reason (and, when
    the command has it, that --wait retries)."""
    what = f"broker {host}:{port}"
    try:
        async with asyncio.timeout(timeout + 1):
            async with aiomqtt.Client(
                host,
                port,
                identifier=f"buzzline-check-{secrets.token_hex(4)}",
                username=username,
                password=password,
                timeout=timeout,
            ):
                return
    except aiomqtt.MqttCodeError as e:
        reason = str(e.rc)
        if any(w in reason.lower() for w in _AUTH_WORDS):
            who = f"user {username!r}" if username else "an anonymous client"
            raise UserError(
                what, f"refused {who}: {reason}", "check --user/--password, or --credentials FILE"
            ) from None
        raise UserError(what, f"refused the connection: {reason}") from None
    except (aiomqtt.MqttError, TimeoutError) as e:
        reason = str(e) if isinstance(e, aiomqtt.MqttError) else ""
        if not reason or "timed out" in reason.lower():
            reason = f"no answer within {timeout:g} s"
        elif "] " in reason:  # "[Errno 111] Connection refused" -> "connection refused"
            reason = reason.split("] ", 1)[1]
        reason = reason[:1].lower() + reason[1:]
        hint = "is the broker running?" + (" --wait keeps retrying" if can_wait else "")
        if reason in ("name or service not known", "temporary failure in name resolution"):
            reason, hint = "unknown host name", "check HOST in --broker HOST:PORT"
        raise UserError(what, reason, hint) from None


def is_auth_error(e: UserError) -> bool:
    return e.why.startswith("refused ") and "check --user" in e.hint


async def wait_for_broker(
    host: str,
    port: int,
    username: str | None = None,
    password: str | None = None,
    *,
    wait: bool = False,
    can_wait: bool = True,
    status: Callable[[str], None] = print,
) -> None:
    """``check_broker``; with ``wait``, retry every few seconds (one status line per new reason)
    until the broker answers. A refused login is never retried: waiting does not fix a password."""
    last = ""
    while True:
        try:
            await check_broker(host, port, username, password, can_wait=can_wait)
            if last:
                status(f"broker {host}:{port} is up")
            return
        except UserError as e:
            if not wait or is_auth_error(e):
                raise
            if e.why != last:
                status(f"waiting for the broker at {host}:{port}: {e.why} (retrying every {RETRY_S:g} s)")
                last = e.why
        await asyncio.sleep(RETRY_S)
