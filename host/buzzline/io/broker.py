"""Start an MQTT broker for a demo, a test or a benchmark.

Mosquitto is spawned on a free loopback port with a generated config when it is
installed; otherwise an embedded pure-Python broker (amqtt, extra ``broker``) runs
in a thread. Either way the caller gets ``host`` and ``port`` and a ``stop()``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

log = logging.getLogger(__name__)

# Small command and sync packets must not wait for Nagle's algorithm (every MQTT client of ours).
NODELAY = ((socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),)

MOSQUITTO_PATHS = ("/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto", "/usr/bin/mosquitto")


class BrokerError(RuntimeError):
    pass


def find_program(name: str, paths: tuple[str, ...]) -> str | None:
    """``name`` on the PATH, or the first executable of ``paths`` (sbin is often off a user's PATH)."""
    found = shutil.which(name)
    if found:
        return found
    for p in paths:
        if os.access(p, os.X_OK):
            return p
    return None


def find_mosquitto() -> str | None:
    return find_program("mosquitto", MOSQUITTO_PATHS)


def free_port(host: str = "127.0.0.1") -> int:
    """A free TCP port for a server that listens on it later (``listen_ports``: below the
    kernel's ephemeral range, so no outgoing connection is handed it in between)."""
    return listen_ports(1, host)[0]


def _ephemeral_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


def listen_ports(n: int, host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct free TCP ports below the kernel's ephemeral range, for servers that are told
    their ports now and listen on them later (a cluster's nodes, a daemon a test starts, a host
    restarted on the same API port): a port from the ephemeral range (binding port 0) can be
    handed to another process's outgoing connection, or to another server's port 0, in between
    (a server that restarts on its port is exposed each time it is down)."""
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        low = 32768
    out: list[int] = []
    for port in random.Random().sample(range(max(1024, low - 12000), low), 400):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((host, port))
            except OSError:
                continue
        out.append(port)
        if len(out) == n:
            return out
    return out + [_ephemeral_port(host) for _ in range(n - len(out))]


def udp_bound(port: int, host: str = "127.0.0.1") -> bool:
    """Someone on this machine listens on UDP ``port`` (a desk, oscdump): binding it here fails."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BrokerError(f"broker did not listen on {host}:{port} within {timeout}s") from None
            time.sleep(0.02)


class Broker:
    """A running broker. Use as a context manager, or call ``start()`` and ``stop()``."""

    host: str
    port: int
    kind: str

    def __enter__(self) -> Broker:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


class MosquittoBroker(Broker):
    """Mosquitto in a child process with its own config in a private directory.

    ``extra_config`` lines are appended to the listener block (for password files and ACLs,
    see `buzzline.io.security`). The port is kept across ``restart()`` so clients can reconnect.
    """

    kind = "mosquitto"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        extra_config: str = "",
        allow_anonymous: bool = True,
        workdir: Path | None = None,
        executable: str | None = None,
        own_group: bool = False,
        persistence: bool = False,
    ) -> None:
        exe = executable or find_mosquitto()
        if exe is None:
            raise BrokerError("mosquitto is not installed")
        self.exe = exe
        self.host = host
        self.port = port or free_port(host)
        self.extra_config = extra_config
        self.allow_anonymous = allow_anonymous
        # Retained messages and sessions saved to workdir every second and on a clean stop
        # (a SIGKILL loses the last second); may be changed between restarts.
        self.persistence = persistence
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="buzzline-broker-"))
        self.proc: subprocess.Popen[bytes] | None = None
        # In its own process group a terminal's Ctrl-C reaches only us, and we stop the broker
        # last, after the clients said goodbye; it still dies with us (parent-death signal).
        self.own_group = own_group
        self.log_path = self.workdir / "mosquitto.log"

    def config_text(self) -> str:
        lines = [
            "# generated by buzzline",
            "per_listener_settings false",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            *(
                ("persistence true", f"persistence_location {self.workdir}/", "autosave_interval 1")
                if self.persistence
                else ("persistence false",)
            ),
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "max_inflight_messages 100",
            "max_queued_messages 10000",
            # Nagle's algorithm would hold small command packets back for tens of ms.
            "set_tcp_nodelay true",
            f"listener {self.port} {self.host}",
        ]
        if self.extra_config:
            lines.append(self.extra_config.rstrip())
        return "\n".join(lines) + "\n"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "mosquitto.conf"
        conf.write_text(self.config_text())
        logf = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [self.exe, "-c", str(conf)],
            stdout=logf,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=_own_group() if self.own_group else None,
        )
        logf.close()
        try:
            wait_for_port(self.host, self.port)
        except BrokerError:
            why = self.read_log()[-500:]
            self.stop()
            raise BrokerError(f"mosquitto failed to start: {why}") from None
        log.info("mosquitto listening on %s (pid %s)", self.address, self.proc.pid)

    def read_log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def kill(self) -> None:
        """Stop the broker abruptly (for fault tests); ``start()`` brings it back on the same port."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None

    def restart(self) -> None:
        self.kill()
        self.start()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        if self._own_dir:  # a directory we made: nothing of it is left in the temporary directory
            shutil.rmtree(self.workdir, ignore_errors=True)


def _own_group() -> Callable[[], None]:
    """What the child runs before exec: a process group of its own, and SIGTERM when its parent
    dies (Linux prctl; libc is loaded here, before the fork, so the child only calls it)."""
    import ctypes

    try:
        prctl = ctypes.CDLL(None).prctl
    except (OSError, AttributeError):
        prctl = None
    pr_set_pdeathsig = 1

    def child() -> None:
        os.setpgid(0, 0)
        if prctl is not None:
            prctl(pr_set_pdeathsig, int(signal.SIGTERM))

    return child


class ConfiguredMosquitto(MosquittoBroker):
    """Mosquitto running exactly a config file as `buzzline broker config` wrote it (its password
    file and ACL beside it): the studio's own setup, for the benchmarks that measure it."""

    def __init__(self, conf: Path, *, port: int, workdir: Path | None = None) -> None:
        super().__init__(port=port, workdir=workdir)
        self.conf = conf

    def config_text(self) -> str:
        return self.conf.read_text()


class EmbeddedBroker(Broker):
    """amqtt running in a background thread: the fallback where Mosquitto is absent."""

    kind = "amqtt"

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self._thread: threading.Thread | None = None
        self._stop: object = None
        self._loop: object = None

    def start(self) -> None:
        try:
            import amqtt.broker  # noqa: F401
        except ImportError as e:
            raise BrokerError(
                "neither mosquitto nor amqtt (pip install 'buzzline[broker]') is available"
            ) from e
        import asyncio

        ready = threading.Event()
        errors: list[BaseException] = []

        def runner() -> None:
            from amqtt.broker import Broker as AmqttBroker

            loop = asyncio.new_event_loop()
            self._loop = loop
            cfg = {
                "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
                "auth": {"allow-anonymous": True, "plugins": ["auth_anonymous"]},
                "topic-check": {"enabled": False},
            }

            async def main() -> None:
                stop = asyncio.Event()
                self._stop = stop
                broker = AmqttBroker(cfg)  # built inside the running loop it will serve
                await broker.start()
                ready.set()
                await stop.wait()
                await broker.shutdown()

            try:
                loop.run_until_complete(main())
            except BaseException as e:  # surfaced to start()
                errors.append(e)
                ready.set()

        self._thread = threading.Thread(target=runner, name="amqtt", daemon=True)
        self._thread.start()
        ready.wait(10)
        if errors:
            raise BrokerError(f"embedded broker failed: {errors[0]}")
        wait_for_port(self.host, self.port)

    def stop(self) -> None:
        import asyncio

        loop, stop = self._loop, self._stop
        if isinstance(loop, asyncio.AbstractEventLoop) and isinstance(stop, asyncio.Event):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stop.set)
        if self._thread:
            self._thread.join(5)


def start_broker(prefer: str = "auto", **kwargs: object) -> Broker:
    """Start and return a broker: Mosquitto when installed (or asked for), else amqtt.

    ``prefer``: "auto", "mosquitto" or "amqtt"."""
    if prefer in ("auto", "mosquitto") and find_mosquitto():
        b: Broker = MosquittoBroker(**kwargs)  # type: ignore[arg-type]
    elif prefer == "mosquitto":
        raise BrokerError("mosquitto is not installed")
    else:
        b = EmbeddedBroker(**kwargs)  # type: ignore[arg-type]
    b.start()
    return b


def parse_address(addr: str, default_port: int = 1883) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    if not host:
        return addr, default_port
    try:
        return host, int(port)
    except ValueError:
        raise ValueError(f"bad broker address {addr!r}, expected HOST:PORT") from None
