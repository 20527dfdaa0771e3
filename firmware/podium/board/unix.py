# Unix profile for tests and demos: a fake button pin whose IRQ a test harness fires, a fake
# light that records what it shows, and the harness itself, a TCP line protocol on 127.0.0.1:
#   press | release | bounce N   -> "ok"            (edges on the fake pin, IRQ fired at once)
#   light?                       -> "PATTERN RRGGBB R,G,B"
#   heap?                        -> "PEAK_ALLOC LIVE_AFTER_COLLECT"
#   state?                       -> "up=0|1 armed=0|1 ep=N seq=N drops=N pending=N faults=N b=N"
#   wifi down | wifi up          -> "ok"            (while down the link cannot come back)
#   quit                         -> stops the podium
# Fakes live only here, in the hardware layer.
import asyncio

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

    def __init__(self, local: dict) -> None:
        self.local = local
        self.button_pin = FakePin(1)  # active low, released
        self.light = FakeLight()
        self.state_dir = local.get("state_dir", ".")
        self.harness_port = local.get("harness_port", 0)
        self.app: Any = None  # the Podium, set by it (typed loosely: no import cycle)
        self._wifi = asyncio.Event()
        self._wifi.set()

    def attach_button(self, handler) -> None:
        self.button_pin.irq(handler=handler)

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
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                reply = self.command(line.decode().strip())
                # Yield once so the loop polls at once and sees the IRQ's ThreadSafeFlag, as a
                # board's idle loop would; otherwise the unix poller waits for the next timer.
                await asyncio.sleep_ms(0)
                writer.write((reply + "\n").encode())
                await writer.drain()
                if reply == "bye":
                    break
        except Exception as e:
            print("harness:", repr(e))
        writer.close()

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
        elif cmd == "state?":
            return "up=%d armed=%d ep=%d seq=%d drops=%d pending=%d faults=%d b=%d" % (
                1 if app.mqtt.up else 0,
                1 if app.armed else 0,
                app.epoch,
                app.seq,
                app.mqtt.drops,
                app.mqtt.pending(),
                app.faults,
                app.boot,
            )
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
