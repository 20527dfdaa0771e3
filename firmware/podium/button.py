# Button capture: the IRQ handler stores ticks_us and the pin level in a preallocated ring
# (no allocation, so it is safe as a hard IRQ) and sets a ThreadSafeFlag; a task debounces
# after the timestamp and detects stuck and chattering buttons.
import asyncio
from time import ticks_diff, ticks_us

from micropython import const

_RING = const(32)


class Button:
    # Tunables (class attributes, overridable per instance from config).
    DEBOUNCE_MS = 20
    STUCK_MS = 8000  # held longer than this: report "stuck" once
    CHATTER_EDGES = 16  # this many edges within CHATTER_WINDOW_MS: report "chatter" once
    CHATTER_WINDOW_MS = 1000
    QUIET_MS = 2000  # no edges for this long ends a chatter episode ("cleared")
    POLL_MS = 50

    def __init__(self, pin, on_press, on_fault, active_low: bool = True) -> None:
        self._pin = pin
        self._on_press = on_press  # called with the raw tick of the press edge
        self._on_fault = on_fault  # called with (code, n)
        self._active_low = active_low
        self._t: list = [
            0
        ] * _RING  # ticks (a distinct type in the stubs)  # small ints: storing one does not allocate
        self._lv = bytearray(_RING)
        self._w = 0
        self._r = 0
        self.overflow = 0
        self._flag = asyncio.ThreadSafeFlag()
        self.pressed = False
        self._changed = ticks_us()
        self._last_edge = self._changed
        self._last_press_edge = self._changed
        self._win_start = self._changed
        self._win_edges = 0
        self._chatter_edges = 0
        self.chatter = False
        self.stuck = False
        self.presses = 0
        # Bind once: creating the bound method inside the IRQ would allocate.
        self.handler = self._irq
        self._selftest = False  # the ring belongs to the capture selftest: no presses from it

    def _irq(self, pin) -> None:
        t = ticks_us()
        w = self._w
        n = w + 1
        if n == _RING:
            n = 0
        if n == self._r:
            self.overflow += 1
        else:
            self._t[w] = t
            self._lv[w] = pin.value()
            self._w = n
        self._flag.set()

    def _is_pressed(self, level: int) -> bool:
        return (level == 0) if self._active_low else (level != 0)

    def _edge(self, t, pressed: bool) -> None:
        self._last_edge = t
        if ticks_diff(t, self._win_start) > self.CHATTER_WINDOW_MS * 1000:
            self._win_start = t
            self._win_edges = 0
        self._win_edges += 1
        if self.chatter:
            self._chatter_edges += 1
        elif self._win_edges >= self.CHATTER_EDGES:
            self.chatter = True
            self._chatter_edges = self._win_edges
            self._on_fault("chatter", self._win_edges)
        if pressed:
            self._last_press_edge = t
        if pressed == self.pressed:
            return
        if ticks_diff(t, self._changed) < self.DEBOUNCE_MS * 1000:
            return  # bounce: the settle check in poll() reconciles with the real level
        self._set(t, pressed)

    def _set(self, t, pressed: bool) -> None:
        self.pressed = pressed
        self._changed = t
        if pressed:
            self.presses += 1
            # A chattering contact cannot be trusted: it is reported, not turned into buzzes.
            if not self.chatter:
                self._on_press(t)
        elif self.stuck:
            self.stuck = False
            self._on_fault("cleared", 0)

    def drain(self) -> None:
        if self._selftest:
            return
        while self._r != self._w:
            r = self._r
            t = self._t[r]
            lv = self._lv[r]
            r += 1
            self._r = 0 if r == _RING else r
            self._edge(t, self._is_pressed(lv))

    def poll(self) -> None:
        """Periodic checks: settle after bounces, stuck, end of chatter."""
        now = ticks_us()
        level = self._is_pressed(self._pin.value())
        if (
            level != self.pressed
            and self._r == self._w
            and ticks_diff(now, self._last_edge) >= self.DEBOUNCE_MS * 1000
            and ticks_diff(now, self._changed) >= self.DEBOUNCE_MS * 1000
        ):
            self._set(self._last_press_edge if level else self._last_edge, level)
        if self.pressed and not self.stuck and ticks_diff(now, self._changed) > self.STUCK_MS * 1000:
            self.stuck = True
            self._on_fault("stuck", 0)
        if self.chatter and ticks_diff(now, self._last_edge) > self.QUIET_MS * 1000:
            self.chatter = False
            self._on_fault("cleared", self._chatter_edges)

    async def run(self) -> None:
        while True:
            await self._flag.wait()
            self.drain()

    async def monitor(self) -> None:
        while True:
            await asyncio.sleep_ms(self.POLL_MS)
            self.poll()

    def deinit(self) -> None:
        self._on_press = None
        self._on_fault = None
