"""Options and checks shared by the commands that talk to a broker (host, sim, demo)."""

from __future__ import annotations

import argparse
import errno
import socket
from pathlib import Path

from buzzline.errors import UserError, os_reason, port_number
from buzzline.io.security import BrokerSecrets, SecurityConfigError, load_credentials


def add_broker_arguments(p: argparse.ArgumentParser, default: str | None = "127.0.0.1:1883") -> None:
    p.add_argument("--broker", default=default, help=f"broker HOST:PORT (default {default})")
    p.add_argument("--user", help="broker username")
    p.add_argument("--password", help="broker password")
    p.add_argument(
        "--credentials",
        type=Path,
        metavar="FILE",
        help="credentials.json written by `buzzline broker config` (or its directory): use its accounts",
    )
    p.add_argument("--wait", action="store_true", help="keep retrying until the broker answers")


def broker_address(text: str) -> tuple[str, int]:
    """HOST:PORT (or HOST, port 1883) checked: a bad one is a ``UserError``."""
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = text, "1883"
    if not host or host.startswith("[") != host.endswith("]"):
        raise UserError(f"--broker {text}", "expected HOST:PORT", "e.g. --broker 127.0.0.1:1883")
    try:
        port = port_number(port_text)
    except argparse.ArgumentTypeError as e:
        raise UserError(f"--broker {text}", str(e), "e.g. --broker 127.0.0.1:1883") from None
    return host.strip("[]"), port


def read_credentials(path: Path) -> BrokerSecrets:
    """The accounts in a credentials.json (``path`` may be the file or the directory holding it)."""
    if not path.exists():
        raise UserError(f"--credentials {path}", "no such file", "run `buzzline broker config` first")
    try:
        return load_credentials(path)
    except SecurityConfigError as e:
        raise UserError(f"--credentials {path}", str(e)) from None


def studio_credentials(args: argparse.Namespace) -> BrokerSecrets | None:
    """The accounts of ``--credentials`` (None without it), checked against ``--studio``; the studio
    defaults to the file's, else ``demo``."""
    if args.credentials is None:
        args.studio = args.studio or "demo"
        return None
    sec = read_credentials(args.credentials)
    if args.studio is None:
        args.studio = sec.studio
    elif sec.studio != args.studio:
        what = f"--credentials {args.credentials}"
        raise UserError(what, f"is for studio {sec.studio!r}", f"pass --studio {sec.studio}")
    return sec


def api_socket(port: int, host: str = "127.0.0.1") -> socket.socket:
    """Bind the operator API's port now, so a busy port is told before anything starts."""
    from buzzline.web.app import listen_socket

    try:
        return listen_socket(host, port)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise UserError(
                f"--http {port}",
                "the port is already in use",
                "pick another port, or stop the program using it",
            ) from None
        why = os_reason(e) if isinstance(e, socket.gaierror) else (e.strerror or str(e))
        raise UserError(
            f"--bind {host}", f"cannot listen there: {why}", "an address of this machine, or 0.0.0.0 for all"
        ) from None


def check_log_path(path: str) -> None:
    """An event log the host can write: its directory exists, and an existing file is a log."""
    from buzzline.io.eventlog import EventLog

    p = Path(path)
    if p.is_dir():
        raise UserError(f"--log {path}", "is a directory", f"name a file in it, e.g. --log {p / 'show.db'}")
    if not p.parent.is_dir():
        raise UserError(f"--log {path}", f"no directory {p.parent}", "create it first, or pick another path")
    if p.exists():
        with EventLog(p, readonly=True):  # EventLogError says why it is not one
            pass
