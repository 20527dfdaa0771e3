# Light patterns, driven without blocking: a task recomputes the colour a few dozen times a
# second and writes the driver only on change. Drivers (NeoPixel ring, plain LED, unix fake)
# live in the board layer and expose show(r, g, b). The RGB of a pattern is computed when the
# pattern or the configuration changes, never per frame: frames allocate nothing.
import asyncio
from time import ticks_add, ticks_diff, ticks_ms

from micropython import const

# pattern -> (colour source, on ms, off ms, brightness divisor); 0 off ms = solid.
# Colour source: "own" = the podium's configured colour, "cmd" = the command's colour,
# else a fixed hex colour.
_TABLE = {
    "off": ("000000", 1, 0, 1),
    "idle": ("own", 1, 0, 8),
    "armed": ("own", 1, 0, 1),
    "winner": ("own", 150, 150, 1),
    "locked": ("000000", 1, 0, 1),
    "false": ("ff0000", 80, 80, 1),
    "offline": ("ff8000", 100, 1900, 2),
    "identify": ("ffffff", 100, 100, 1),
    "solid": ("cmd", 1, 0, 1),
    "blink": ("cmd", 500, 500, 1),
}
FALSE_FLASH_MS = 1500  # a false start flashes this long, then shows "locked"
_DARK = (0, 0, 0)


def parse_colour(col: str):
    return int(col[0:2], 16), int(col[2:4], 16), int(col[4:6], 16)


# One pattern ready to show, a tuple (a class and its instances cost more heap): name, colour,
# blink on-time and period (ms), and its precomputed RGB.
_PAT = const(0)
_COL = const(1)
_ON = const(2)
_PERIOD = const(3)
_RGB = const(4)


def _ready(pat: str, col: str, bri: int) -> tuple:
    src, on, off, div = _TABLE[pat]
    hexcol = col if src == "own" or src == "cmd" else src
    r, g, b = parse_colour(hexcol)
    k = bri // div
    return (pat, col, on, on + off, (r * k // 255, g * k // 255, b * k // 255))


class Lights:
    FRAME_MS = 25

    def __init__(self, driver, colour: str = "ffffff", bri: int = 64) -> None:
        self._driver = driver
        self.colour = colour
        self.bri = bri
        self._base = _ready("idle", colour, bri)
        self._temp: tuple | None = None  # an overlay with a duration, until _until
        self._until = ticks_ms()
        self._offline_shown = _ready("offline", colour, bri)
        self._offline = False
        self._start = ticks_ms()
        self._shown = _DARK
        self.frames = 0

    def set(self, pat: str, col=None, dur: int = 0) -> None:
        if pat not in _TABLE:
            raise ValueError("unknown light pattern " + pat)
        if dur > 0 or pat == "false":
            self._until = ticks_add(ticks_ms(), dur if dur > 0 else FALSE_FLASH_MS)
            self._temp = _ready(pat, col or self.colour, self.bri)
            if pat == "false" and dur <= 0:
                self._base = _ready("locked", self.colour, self.bri)
        else:
            self._temp = None
            self._base = _ready(pat, col or self.colour, self.bri)
        self._start = ticks_ms()

    def set_link(self, up: bool) -> None:
        if self._offline == up:
            self._offline = not up
            self._start = ticks_ms()

    def configure(self, colour: str, bri: int) -> None:
        self.colour = colour
        self.bri = bri
        base = self._base
        col = colour if base[_PAT] in ("idle", "armed", "winner") else base[_COL]
        self._base = _ready(base[_PAT], col, bri)
        self._offline_shown = _ready("offline", colour, bri)
        if self._temp is not None:
            self._temp = _ready(self._temp[_PAT], self._temp[_COL], bri)

    def _now_shown(self) -> tuple:
        t = self._temp
        if t is not None:
            # ticks_ms values are compared through ticks_diff only (they wrap)
            if ticks_diff(self._until, ticks_ms()) > 0:
                return t
            self._temp = None
        if self._offline:
            return self._offline_shown
        return self._base

    def current(self):
        """The pattern and colour shown now: (pattern, "rrggbb")."""
        s = self._now_shown()
        return s[_PAT], s[_COL]

    def frame(self):
        """The RGB triple to show at this instant (a precomputed tuple: no allocation)."""
        s = self._now_shown()
        if s[_PERIOD] > s[_ON] and ticks_diff(ticks_ms(), self._start) % s[_PERIOD] >= s[_ON]:
            return _DARK
        return s[_RGB]

    async def run(self) -> None:
        while True:
            rgb = self.frame()
            if rgb is not self._shown:
                self._shown = rgb
                self._driver.show(rgb[0], rgb[1], rgb[2])
            self.frames += 1
            await asyncio.sleep_ms(self.FRAME_MS)

    def deinit(self) -> None:
        self._driver.show(0, 0, 0)
