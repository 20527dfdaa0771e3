"""`buzzline broker config ...`: write a secured Mosquitto config (passwords + ACL) for a studio."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from buzzline.io.security import (
    ACL_FILE,
    CONF_FILE,
    CREDENTIALS_FILE,
    PASSWD_FILE,
    SecurityConfigError,
    write_broker_config,
)

NAME = "broker"
HELP = "secured broker setup: per-podium credentials, password file and ACL for Mosquitto"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="broker_cmd", metavar="ACTION", required=True)
    p = sub.add_parser(
        "config",
        help="write mosquitto.conf, passwd, acl and credentials.json into a directory",
        description="Write a Mosquitto config that refuses anonymous clients, lets each podium publish "
        "only under its own topics, viewers only read, and the host do the rest. Re-running keeps "
        "existing passwords (add podiums without re-flashing the others) unless --rotate.",
    )
    p.add_argument("--studio", required=True, help="studio name (the topic tree's second level)")
    p.add_argument("--podiums", required=True, help="comma-separated podium ids, e.g. p1,p2,p3")
    p.add_argument("--out", required=True, type=Path, help="directory to write into (created if missing)")
    p.add_argument("--port", type=int, default=1883, help="listener port (default 1883)")
    p.add_argument("--bind", default="0.0.0.0", help="listener address (default all interfaces)")
    p.add_argument(
        "--user",
        default="",
        help="account mosquitto runs as when started as root, e.g. mosquitto (default: the current one)",
    )
    p.add_argument("--rotate", action="store_true", help="new passwords for every account")


def run(args: argparse.Namespace) -> int:
    podiums = [p.strip() for p in args.podiums.split(",") if p.strip()]
    if not podiums:
        print("buzzline broker config: --podiums lists no podium ids", file=sys.stderr)
        return 2
    try:
        sec = write_broker_config(
            args.out, args.studio, podiums, port=args.port, bind=args.bind, user=args.user, rotate=args.rotate
        )
    except (SecurityConfigError, OSError) as e:
        print(f"buzzline broker config: {e}", file=sys.stderr)
        return 2
    from buzzline.ota.release import write_key_once

    out = args.out.resolve()
    key = write_key_once(out)
    print(f"studio {sec.studio}: {len(sec.podiums)} podium accounts, host and viewer")
    for name in (CONF_FILE, PASSWD_FILE, ACL_FILE, CREDENTIALS_FILE):
        print(f"  wrote {out / name}")
    print(f"start it with: mosquitto -c {out / CONF_FILE}")
    print(f"{CREDENTIALS_FILE} holds the plain secrets (mode 0600): flash each podium's, keep it private")
    print(f"studio key for signed firmware releases: {key} (kept when re-run; `buzzline flash --fw-key`)")
    return 0
