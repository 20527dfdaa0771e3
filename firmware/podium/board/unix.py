# Unix profile for tests and demos: a fake button pin whose IRQ a test harness fires, a fake
# light that records what it shows, and the harness itself, a TCP line protocol on 127.0.0.1:
#   press | release | bounce N   -> "ok"            (edges on the fake pin, IRQ fired at once)
#   light?                       -> "PATTERN RRGGBB R,G,B"
#   times?                       -> "PRESS_US LOCK_US WINNER_US" (ticks_us of the last of each)
#   heap?                        -> "PEAK_ALLOC LIVE_AFTER_COLLECT"
#   mem?                         -> "arm_free=N arm_free_min=N poll_max=N armed_max=N forced=N memerr=N memsite=N collects=N"
#   state?                       -> "up=0|1 armed=0|1 ep=N seq=N drops=N pending=N faults=N b=N host=0|1"
#   wifi down | wifi up          -> "ok"            (while down the link cannot come back)
#   kill N                       -> "ok"            (cancels the app's task N: 0 link, 3 lights)
#   quit                         -> stops the podium
# Fakes live only here, in the hardware layer.
import asyncio
import gc
from time import ticks_diff, ticks_us

from podium import early_buffer
from podium.wire import put, put_int

try:
    from typing import Any
except ImportError:  # MicroPython: annotations are not evaluated
    Any = object


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


class FakeJumper:
    """The selftest output wired to the fake button pin. Each change waits an injected delay
    first (busy, as a GC pass or a flash write holds the interpreter), then drives the pin, so
    the selftest measures a known distribution: local config "selftest_inject_us" =
    [base, tail, every]: every `every`-th edge waits `tail` µs, the others `base` µs."""

    def __init__(self, pin: FakePin, inject) -> None:
        self._pin = pin
        self._base, self._tail, self._every = inject if inject else (0, 0, 1)
        self._i = 0

    def value(self, v=None):
        if v is None:
            return self._pin.value()
        self._i += 1
        d = self._tail if self._i % self._every == 0 else self._base
        t0 = ticks_us()
        while ticks_diff(ticks_us(), t0) < d:
            pass
        self._pin.drive(1 if v else 0)
        return None


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
        self._chunk = early_buffer(64)
        self._line = early_buffer(64)
        self._out = early_buffer(64)
        self._texts: dict = {}  # pattern names and colours as bytes, built once each

    def attach_button(self, handler) -> None:
        self.button_pin.irq(handler=handler)

    def selftest_output(self) -> FakeJumper:
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

    async def _serve(self) -> None:
        # MicroPython's asyncio server does not expose its socket, so the port is configured.
        port = self.harness_port
        if not port:
            raise ValueError("the unix profile needs a harness_port in its local config")
        await asyncio.start_server(self._client, "127.0.0.1", port)
        print("harness 127.0.0.1", port)
        while True:
            await asyncio.sleep(3600)

    async def _client(self, reader, writer) -> None:
        # Polled, not awaited on the I/O queue, and answered from preallocated buffers: a test
        # polls the light every millisecond while the podium is armed with the GC off, and the
        # harness must not be what fills the heap. press/release/light? allocate nothing.
        s = reader.s
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
                            writer.close()
                            return
                    else:
                        s.write(self._out, reply)
                    n = 0
                    self._mark = gc.mem_alloc() if self.app.armed else -1
        except Exception as e:
            print("harness:", repr(e))
        writer.close()

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
        i = put(out, 0, self._bytes(shown.pat))
        out[i] = 32
        i = put(out, i + 1, self._bytes(shown.col))
        out[i] = 32
        rgb = self.light.rgb
        i = put_int(out, i + 1, rgb[0])
        out[i] = 44
        i = put_int(out, i + 1, rgb[1])
        out[i] = 44
        i = put_int(out, i + 1, rgb[2])
        out[i] = 10
        return i + 1

    def _bytes(self, text: str) -> bytes:
        b = self._texts.get(text)
        if b is None:
            b = text.encode()
            self._texts[text] = b
        return b

    def command(self, line: str) -> str:
        words = line.split()
        if not words:
            return "error empty command"
        cmd = words[0]
        app = self.app
        if cmd == "press":
            self.button_pin.drive(0)
        elif cmd == "release":
            self.button_pin.drive(1)
        elif cmd == "bounce":
            try:
                n = int(words[1])
            except (IndexError, ValueError):
                return "error bounce needs a count"
            for _ in range(n):
                self.button_pin.drive(1 - self.button_pin.value())
        elif cmd == "wifi" and len(words) == 2 and words[1] in ("up", "down"):
            if words[1] == "up":
                self._wifi.set()
            else:
                self._wifi.clear()
        elif cmd == "light?":
            pat, col = app.lights.current()
            r, g, b = self.light.rgb
            return "%s %s %d,%d,%d" % (pat, col, r, g, b)
        elif cmd == "heap?":
            return "%d %d" % (app.heap_peak, app.heap_live)
        elif cmd == "mem?":
            return (
                "arm_free=%d arm_free_min=%d poll_max=%d armed_max=%d forced=%d memerr=%d memsite=%d collects=%d"
                % (
                    app.heap_free_at_arm,
                    app.heap_free_at_arm_min,
                    self.poll_max,
                    app.armed_alloc_max,
                    app.gc_forced,
                    app.mem_errors,
                    app.mqtt.mem_site,
                    app.armed_collects,
                )
            )
        elif cmd == "state?":
            return "up=%d armed=%d ep=%d seq=%d drops=%d pending=%d faults=%d b=%d host=%d" % (
                1 if app.mqtt.up else 0,
                1 if app.armed else 0,
                app.epoch,
                app.seq,
                app.mqtt.drops,
                app.mqtt.pending(),
                app.faults,
                app.boot,
                1 if app.host_online else 0,
            )
        elif cmd == "kill" and len(words) == 2 and words[1].isdigit() and int(words[1]) < len(app._tasks):
            app._tasks[int(words[1])].cancel()  # a dead task, for the supervisor to restart
        elif cmd == "quit":
            app.stop()
            return "bye"
        else:
            return "error unknown command " + cmd[:20]
        return "ok"

    def deinit(self) -> None:
        self.button_pin.irq(handler=None)


def make_board(local: dict) -> UnixBoard:
    return UnixBoard(local)
