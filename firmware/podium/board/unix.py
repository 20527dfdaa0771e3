# Unix profile for tests and demos: a fake button pin whose IRQ a test harness fires, a fake
# light that records what it shows, and the harness itself, a TCP line protocol on 127.0.0.1:
#   press | release | bounce N   -> "ok"            (edges on the fake pin, IRQ fired at once)
#   light?                       -> "PATTERN RRGGBB R,G,B"
#   times?                       -> "PRESS_US LOCK_US WINNER_US" (ticks_us of the last of each)
#   pt?                          -> "PRESS_US PT" (the last press edge: ticks_us, podium time)
#   heap?                        -> "PEAK_ALLOC LIVE_AFTER_COLLECT"
#   mem?                         -> "arm_free=N arm_free_min=N poll_max=N armed_max=N forced=N memerr=N memsite=N collects=N"
#   state?                       -> "up=0|1 armed=0|1 ep=N seq=N drops=N pending=N faults=N b=N host=0|1"
#   wifi down | wifi up          -> "ok"            (while down the link cannot come back)
#   kill N                       -> "ok"            (cancels the app's task N: 0 link, 3 lights)
#   quit                         -> stops the podium
# Fakes live only here, in the hardware layer (the text commands and the selftest's fake jumper
# in unix_harness.py, loaded when first used).
import asyncio
import gc
import socket
from asyncio import core

from podium.wire import put_int

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated
    Any = object


def _put_text(buf, i: int, text: str) -> int:
    # ASCII text (a pattern name, a colour) copied in place: nothing to allocate or cache
    for c in text:
        buf[i] = ord(c)
        i += 1
    return i


class FakePin:
    def __init__(self, level: int = 1) -> None:
        self._level = level
        self._handler = None

    def value(self, v=None):
        if v is None:
            return self._level
        self._level = 1 if v else 0
        return None

    def irq(self, handler=None, trigger=0, hard=False) -> None:
        self._handler = handler

    def drive(self, level: int) -> None:
        """Change the level and fire the IRQ, as the edge would on a board."""
        changed = level != self._level
        self._level = level
        if changed and self._handler is not None:
            self._handler(self)


class FakeLight:
    def __init__(self) -> None:
        self.rgb = (0, 0, 0)
        self.writes = 0

    def show(self, r: int, g: int, b: int) -> None:
        self.rgb = (r, g, b)
        self.writes += 1

    def deinit(self) -> None:
        self.show(0, 0, 0)


class UnixBoard:
    name = "unix"
    hw = "unix-port"
    hard_irq = False
    POLL_MS = 1  # harness socket polling while idle

    def __init__(self, local: dict) -> None:
        self.local = local
        self.button_pin = FakePin(1)  # active low, released
        self.light = FakeLight()
        self.state_dir = local.get("state_dir", ".")
        self.harness_port = local.get("harness_port", 0)
        self.app: Any = None  # the Podium, set by it (typed loosely: no import cycle)
        self._wifi = asyncio.Event()
        self._wifi.set()
        # Largest allocation between two harness commands while armed (GC off, so the growth
        # of gc.mem_alloc() between the end of one reply and the next command is exact).
        self.poll_max = 0
        self._mark = -1
        from podium.startup import early_buffer  # built at start-up

        self._chunk = early_buffer(64)
        self._line = early_buffer(64)
        self._out = early_buffer(64)

    def attach_button(self, handler) -> None:
        self.button_pin.irq(handler=handler)

    def selftest_output(self):
        from podium.board.unix_harness import FakeJumper  # the selftest's only

        return FakeJumper(self.button_pin, self.local.get("selftest_inject_us"))

    async def net_up(self) -> None:
        # Like WifiLink.up(): waits for the (simulated) radio link instead of raising.
        await self._wifi.wait()

    def rssi(self):
        return None

    def unique_id(self) -> str:
        pid = self.local.get("id")
        if not pid:
            raise ValueError("the unix profile needs an id in its local config")
        return pid

    def tasks(self) -> list:
        return [self._serve()]

    async def _serve(self):
        # A plain listening socket, as the link uses its own (asyncio's server would load its
        # stream module for this alone); the port is configured.
        port = self.harness_port
        if not port:
            raise ValueError("the unix profile needs a harness_port in its local config")
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(socket.getaddrinfo("127.0.0.1", port)[0][-1])
        ls.listen(2)
        ls.setblocking(False)
        print("harness 127.0.0.1", port)
        while True:
            yield core._io_queue.queue_read(ls)
            s, _ = ls.accept()
            s.setblocking(False)
            asyncio.create_task(self._client(s))  # noqa: RUF006  (the scheduler holds it)

    async def _client(self, s) -> None:
        # Polled, not awaited on the I/O queue, and answered from preallocated buffers: a test
        # polls the light every millisecond while the podium is armed with the GC off, and the
        # harness must not be what fills the heap. press/release/light? allocate nothing.
        line = self._line
        n = 0
        try:
            while True:
                got = s.readinto(self._chunk)
                if got is None:
                    await asyncio.sleep_ms(self.POLL_MS)
                    continue
                if not got:
                    break
                for k in range(got):
                    c = self._chunk[k]
                    if c != 10:
                        if n < len(line):
                            line[n] = c
                            n += 1
                        continue
                    armed = self.app.armed
                    if armed and self._mark >= 0:
                        d = gc.mem_alloc() - self._mark
                        if d > self.poll_max:
                            self.poll_max = d
                    reply = self._fast(n)
                    if reply < 0:
                        text = self.command(bytes(line[:n]).decode().strip())
                        s.write((text + "\n").encode())
                        if text == "bye":
                            s.close()
                            return
                    else:
                        s.write(self._out, reply)
                    n = 0
                    self._mark = gc.mem_alloc() if self.app.armed else -1
        except Exception as e:
            print("harness:", repr(e))
        s.close()

    def _is(self, n: int, word: bytes) -> bool:
        if n != len(word):
            return False
        line = self._line
        for i in range(n):
            if line[i] != word[i]:
                return False
        return True

    def _fast(self, n: int) -> int:
        """Answer press, release and light? into self._out; -1 for anything else."""
        out = self._out
        if self._is(n, b"press"):
            self.button_pin.drive(0)
            out[0:3] = b"ok\n"
            return 3
        if self._is(n, b"release"):
            self.button_pin.drive(1)
            out[0:3] = b"ok\n"
            return 3
        if self._is(n, b"times?"):
            # ticks_us (CLOCK_MONOTONIC on this port) of the last press edge, lock, winner light
            app = self.app
            i = put_int(out, 0, app.t_press_us)
            out[i] = 32
            i = put_int(out, i + 1, app.t_lock_us)
            out[i] = 32
            i = put_int(out, i + 1, app.t_winner_us)
            out[i] = 10
            return i + 1
        if not self._is(n, b"light?"):
            return -1
        # "PATTERN RRGGBB R,G,B"
        shown = self.app.lights._now_shown()
        i = _put_text(out, 0, shown[0])  # (pattern, colour, ...): podium.lights
        out[i] = 32
        i = _put_text(out, i + 1, shown[1])
        out[i] = 32
        rgb = self.light.rgb
        i = put_int(out, i + 1, rgb[0])
        out[i] = 44
        i = put_int(out, i + 1, rgb[1])
        out[i] = 44
        i = put_int(out, i + 1, rgb[2])
        out[i] = 10
        return i + 1

    def command(self, line: str) -> str:
        # The text commands live in unix_harness, loaded at the first one: a unix podium that
        # is only pressed and watched (the benchmark, until its end) carries the fast path only.
        from podium.board.unix_harness import command

        return command(self, line)

    def deinit(self) -> None:
        self.button_pin.irq(handler=None)


def make_board(local: dict) -> UnixBoard:
    return UnixBoard(local)
