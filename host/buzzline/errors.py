"""Mistakes a user can make, told in one line: ``buzzline: <what>: <why> (<hint>)``, exit status 2.

Commands raise ``UserError`` for what they check themselves; ``explain`` turns the errors the
library raises on bad input (a show file, an event log, a broker, a profile) into one, so the CLI
prints a line instead of a traceback. ``buzzline --debug`` shows the traceback as well.
"""

from __future__ import annotations

import errno
import socket

EXIT_USAGE = 2


class UserError(Exception):
    """Something the user can fix: ``what`` failed, ``why``, and optionally what to do (``hint``)."""

    def __init__(self, what: str, why: str, hint: str = "") -> None:
        super().__init__(f"{what}: {why}")
        self.what = what
        self.why = why
        self.hint = hint

    def line(self) -> str:
        text = f"buzzline: {self.what}: {self.why}"
        return f"{text} ({self.hint})" if self.hint else text


def port_number(text: str) -> int:
    """An argparse ``type`` for TCP ports: 1..65535, told as an argparse error otherwise."""
    import argparse

    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 < n < 65536:
        raise argparse.ArgumentTypeError(f"port {n} is out of range (1 to 65535)")
    return n


def studio_name(text: str) -> str:
    """An argparse ``type`` for ``--studio``: the studio is one level of the MQTT topic tree, so it
    may not be empty nor hold a level separator or a wildcard."""
    import argparse

    bad = sorted({c for c in text if c in "/+#\0"})
    if not text or bad:
        why = "is empty" if not text else f"holds {' '.join(repr(c) for c in bad)}"
        raise argparse.ArgumentTypeError(
            f"studio name {text!r} {why}: it is one topic level (e.g. demo, studio-a; no / + #)"
        )
    return text


def os_reason(e: OSError) -> str:
    """The short reason of an OSError ("No such file or directory"), without errno noise."""
    if isinstance(e, socket.gaierror):
        return "unknown host name" if e.errno in (socket.EAI_NONAME, socket.EAI_AGAIN) else str(e.strerror)
    return e.strerror or str(e)


def explain(e: BaseException) -> UserError | None:
    """The one-line form of an error caused by the user's input, or None for a bug."""
    if isinstance(e, BaseExceptionGroup) and len(e.exceptions) == 1:  # from a TaskGroup
        return explain(e.exceptions[0])
    if isinstance(e, UserError):
        return e
    # Imported here: the CLI must not pay for every subsystem to print an error.
    from buzzline.adapters.api import ConfigError
    from buzzline.adapters.runner import AdapterError
    from buzzline.io.broker import BrokerError
    from buzzline.io.eventlog import EventLogError, EventLogInUse
    from buzzline.io.security import SecurityConfigError
    from buzzline.showfile import ShowFileError
    from buzzline.sim.netmodel import ProfileError

    if isinstance(e, ConfigError | AdapterError):
        return UserError("adapter", str(e), "`buzzline adapters list` shows the installed kinds")
    if isinstance(e, ShowFileError):
        where = f"{e.source}:{e.line}" if e.line else e.source
        hint = "fix the file; docs/example-show.toml is a template" if e.line else "check the path"
        return UserError(f"show file {where}", e.reason, hint)
    if isinstance(e, EventLogInUse):
        return UserError("event log", str(e), "stop the other host first, or give this one another --log")
    if isinstance(e, EventLogError):
        return UserError("event log", str(e), "check the path: a log written by `buzzline host --log`")
    if isinstance(e, SecurityConfigError):
        return UserError("broker credentials", str(e))
    if isinstance(e, BrokerError):
        return UserError("broker", str(e))
    if isinstance(e, ProfileError):
        return UserError("benchmark profile", str(e))
    import aiomqtt

    if isinstance(e, aiomqtt.MqttError):  # after the start-up check: the broker went away
        return UserError("broker", f"the connection failed: {e}", "is the broker still running?")
    if isinstance(e, PermissionError):
        return UserError(str(e.filename or "file"), "permission denied")
    if isinstance(e, OSError) and e.errno in (errno.ENOENT, errno.ENOTDIR, errno.EISDIR):
        return UserError(str(e.filename or "file"), os_reason(e))
    return None
