"""Broker security: per-podium credentials, a Mosquitto password file and an ACL that lets
each podium publish only under its own topics, viewers and adapters only read, and the host do
the rest."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pwd
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buzzline_protocol import topics
from buzzline_protocol.codec import valid_id

HOST_USER = "host"
VIEWER_USER = "viewer"
ADAPTER_USER = "adapter"  # adapters run anywhere on the network: read the game, write nothing
PODIUM_PREFIX = "podium-"  # keeps a podium called "host" from becoming the host
# mosquitto_passwd's default; the secrets are 128-bit random, so slow hashing buys nothing
# and would only lengthen every podium's reconnect.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12

PASSWD_FILE = "passwd"
ACL_FILE = "acl"
CONF_FILE = "mosquitto.conf"
CREDENTIALS_FILE = "credentials.json"
# Podium leaves the podium itself may read (besides the broadcast command topic).
PODIUM_READS = ("cmd", "syncr", "config", "fw")


class SecurityConfigError(ValueError):
    """Bad studio/podium names, or an unreadable credentials file; the message says why."""


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str


@dataclass(frozen=True, slots=True)
class BrokerSecrets:
    """Every account of one studio's broker."""

    studio: str
    host: Credentials
    viewer: Credentials
    podiums: dict[str, Credentials] = field(default_factory=dict)
    adapter: Credentials | None = None  # absent from credentials files written before it existed

    def accounts(self) -> list[Credentials]:
        extra = [self.adapter] if self.adapter is not None else []
        return [self.host, self.viewer, *extra, *(self.podiums[p] for p in sorted(self.podiums))]

    def to_json(self) -> dict[str, Any]:
        return {
            "studio": self.studio,
            "host": {"username": self.host.username, "password": self.host.password},
            "viewer": {"username": self.viewer.username, "password": self.viewer.password},
            **(
                {"adapter": {"username": self.adapter.username, "password": self.adapter.password}}
                if self.adapter is not None
                else {}
            ),
            "podiums": {
                p: {"username": c.username, "password": c.password} for p, c in sorted(self.podiums.items())
            },
        }


def podium_username(pid: str) -> str:
    return PODIUM_PREFIX + pid


def new_password() -> str:
    """A random secret that is safe on a command line and in a password file."""
    # URL-safe base64 never contains ':' (the password file's separator) or whitespace; one in
    # 64 starts with '-', which a command line reads as an option (--password -x...).
    while True:
        word = secrets.token_urlsafe(16)
        if not word.startswith("-"):
            return word


def check_names(studio: str, podiums: Iterable[str]) -> list[str]:
    """Validate the studio and podium ids against the protocol; return the ids in order."""
    if not valid_id(studio):
        raise SecurityConfigError(f"bad studio name {studio!r}: use 1-32 characters of a-z 0-9 _ -")
    out: list[str] = []
    for pid in podiums:
        if pid == topics.ALL:
            raise SecurityConfigError(f"{pid!r} is reserved for broadcast commands, not a podium id")
        if not valid_id(pid):
            raise SecurityConfigError(f"bad podium id {pid!r}: use 1-32 characters of a-z 0-9 _ -")
        if pid in out:
            raise SecurityConfigError(f"podium {pid!r} is listed twice")
        out.append(pid)
    return out


def generate_secrets(studio: str, podiums: Iterable[str], keep: BrokerSecrets | None = None) -> BrokerSecrets:
    """Fresh credentials for every account; accounts already in ``keep`` keep their password
    (so adding a podium does not un-flash the others)."""
    ids = check_names(studio, podiums)
    if keep is not None and keep.studio != studio:
        keep = None

    def cred(user: str, old: Credentials | None) -> Credentials:
        return old if old is not None and old.username == user else Credentials(user, new_password())

    return BrokerSecrets(
        studio=studio,
        host=cred(HOST_USER, keep.host if keep else None),
        viewer=cred(VIEWER_USER, keep.viewer if keep else None),
        podiums={p: cred(podium_username(p), keep.podiums.get(p) if keep else None) for p in ids},
        adapter=cred(ADAPTER_USER, keep.adapter if keep else None),
    )


def hash_password(password: str, salt: bytes | None = None, iterations: int = PBKDF2_ITERATIONS) -> str:
    """Mosquitto 2's ``$7$`` hash (PBKDF2-HMAC-SHA512), byte-identical to ``mosquitto_passwd``."""
    if iterations < 1:
        raise SecurityConfigError("iterations must be at least 1")
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, iterations)
    return f"$7${iterations}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"


def check_password(password: str, hashed: str) -> bool:
    parts = hashed.split("$")
    if len(parts) != 5 or parts[1] != "7" or not parts[2].isdigit():
        raise SecurityConfigError("not a mosquitto $7$ hash")
    salt = base64.b64decode(parts[3])
    return secrets.compare_digest(hash_password(password, salt, int(parts[2])), hashed)


def password_file_text(sec: BrokerSecrets) -> str:
    return "".join(f"{c.username}:{hash_password(c.password)}\n" for c in sec.accounts())


def acl_text(studio: str, podiums: Iterable[str]) -> str:
    """The Mosquitto ACL: explicit topics per user, no patterns, so nothing is granted by accident."""
    ids = check_names(studio, podiums)
    base = f"{topics.ROOT}/{studio}"
    lines = [
        f"# Buzzline studio {studio}: generated by `buzzline broker config`.",
        "# Anonymous clients are refused by the config; users without a block here get nothing.",
        "",
        f"user {HOST_USER}",
        f"topic readwrite {base}/#",
        "",
        f"user {VIEWER_USER}",
        f"topic read {topics.game_state(studio)}",
        f"topic read {topics.game_events(studio)}",
        f"topic read {topics.podium_filter(studio, 'presence')}",
        f"topic read {topics.host(studio, 'presence')}",
        "",
        f"user {ADAPTER_USER}",
        f"topic read {base}/game/#",
        f"topic read {topics.host(studio, 'presence')}",
    ]
    for pid in ids:
        lines += ["", f"user {podium_username(pid)}"]
        lines += [f"topic write {topics.podium(studio, pid, leaf)}" for leaf in topics.UPSTREAM]
        lines += [f"topic read {topics.podium(studio, pid, leaf)}" for leaf in PODIUM_READS]
        lines.append(f"topic read {topics.podium(studio, topics.ALL, 'cmd')}")
        lines.append(f"topic read {topics.host(studio, 'presence')}")  # it follows the host
    return "\n".join(lines) + "\n"


def current_user() -> str:
    return pwd.getpwuid(os.geteuid()).pw_name


def broker_extra_config(directory: str | Path) -> str:
    """The lines that make a `MosquittoBroker` use the password file and ACL in ``directory``
    (pass ``allow_anonymous=False`` too)."""
    d = Path(directory).resolve()
    for name in (PASSWD_FILE, ACL_FILE):
        if not (d / name).is_file():
            raise SecurityConfigError(f"{d / name} is missing: run `buzzline broker config` first")
    # Started as root, Mosquitto drops to the "mosquitto" account before reading the password
    # file and could not read our 0600 files; a broker we spawn runs as whoever spawned it.
    return f"user {current_user()}\npassword_file {d / PASSWD_FILE}\nacl_file {d / ACL_FILE}\n"


def mosquitto_conf_text(directory: Path, port: int = 1883, bind: str = "0.0.0.0", user: str = "") -> str:
    d = directory.resolve()
    return "\n".join(
        [
            "# Buzzline secured broker: generated by `buzzline broker config`.",
            "# Run: mosquitto -c " + str(d / CONF_FILE),
            # the account Mosquitto drops to when started as root; it must be able to read passwd and acl
            f"user {user or current_user()}",
            "per_listener_settings false",
            "allow_anonymous false",
            f"password_file {d / PASSWD_FILE}",
            f"acl_file {d / ACL_FILE}",
            # no disk persistence: the host re-publishes retained state from its event log
            "persistence false",
            "max_inflight_messages 100",
            "max_queued_messages 10000",
            # Nagle's algorithm would hold a lock or light packet back until the podium's
            # delayed ACK (tens of ms): every hop of a buzz is one small packet.
            "set_tcp_nodelay true",
            f"listener {port} {bind}",
            "",
        ]
    )


def _write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read, replacing any old one atomically."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def load_credentials(location: str | Path) -> BrokerSecrets:
    """The accounts in ``credentials.json``: ``location`` is that file or the directory holding it."""
    path = Path(location)
    if path.is_dir():
        path = path / CREDENTIALS_FILE
    try:
        raw = json.loads(path.read_text())
    except OSError as e:
        raise SecurityConfigError(f"{path}: cannot read: {e.strerror}") from e
    except ValueError as e:
        raise SecurityConfigError(f"{path}: not JSON: {e}") from e
    try:
        return _secrets_from_json(raw)
    except (KeyError, TypeError, AttributeError) as e:
        raise SecurityConfigError(f"{path}: not a Buzzline credentials file (bad or missing {e})") from e


def _cred(obj: Mapping[str, Any]) -> Credentials:
    user, pw = obj["username"], obj["password"]
    if not isinstance(user, str) or not isinstance(pw, str):
        raise TypeError("username/password")
    return Credentials(user, pw)


def _secrets_from_json(raw: Mapping[str, Any]) -> BrokerSecrets:
    studio = raw["studio"]
    if not isinstance(studio, str):
        raise TypeError("studio")
    podiums = {str(p): _cred(c) for p, c in raw["podiums"].items()}
    adapter = _cred(raw["adapter"]) if "adapter" in raw else None
    return BrokerSecrets(studio, _cred(raw["host"]), _cred(raw["viewer"]), podiums, adapter)


def write_broker_config(
    directory: str | Path,
    studio: str,
    podiums: Iterable[str],
    *,
    port: int = 1883,
    bind: str = "0.0.0.0",
    user: str = "",
    rotate: bool = False,
) -> BrokerSecrets:
    """Write mosquitto.conf, passwd, acl and credentials.json into ``directory``.

    Existing passwords in the directory are kept unless ``rotate`` (or the studio changed).
    ``user`` is the account Mosquitto runs as (default: the current one); when we are root and
    it is another account, passwd, acl and the config are handed to it (credentials.json is not).
    """
    d = Path(directory)
    ids = check_names(studio, podiums)
    if not 0 < port < 65536:
        raise SecurityConfigError(f"bad port {port}")
    user = user or current_user()
    try:
        owner = pwd.getpwnam(user)
    except KeyError:
        raise SecurityConfigError(f"no such user account {user!r} to run mosquitto as") from None
    handover = owner.pw_uid != os.geteuid()
    if handover and os.geteuid() != 0:
        raise SecurityConfigError(f"only root can hand the broker files to {user!r}; run this as {user}")
    d.mkdir(parents=True, exist_ok=True)
    keep = None
    if not rotate and (d / CREDENTIALS_FILE).exists():
        keep = load_credentials(d)
    sec = generate_secrets(studio, ids, keep)
    _write_private(d / CREDENTIALS_FILE, json.dumps(sec.to_json(), indent=2) + "\n")
    _write_private(d / PASSWD_FILE, password_file_text(sec))
    _write_private(d / ACL_FILE, acl_text(studio, ids))
    _write_private(d / CONF_FILE, mosquitto_conf_text(d, port, bind, user))
    if handover:
        for name in (PASSWD_FILE, ACL_FILE, CONF_FILE):
            os.chown(d / name, owner.pw_uid, owner.pw_gid)
    return sec
