# Light patterns, driven without blocking: a task recomputes the colour a few dozen times a
# second and writes the driver only on change. Drivers (NeoPixel ring, plain LED, unix fake)
# live in the board layer and expose show(r, g, b).
import asyncio
from time import ticks_add, ticks_diff, ticks_ms

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


def parse_colour(col: str):
    return int(col[0:2], 16), int(col[2:4], 16), int(col[4:6], 16)


class Lights:
    FRAME_MS = 25

    def __init__(self, driver, colour: str = "ffffff", bri: int = 64) -> None:
        self._driver = driver
        self.colour = colour
        self.bri = bri
        self._base = "idle"
        self._base_col = colour
        self._temp: tuple | None = None  # (pattern, colour, until_ms) overlay with a duration
        self._offline = False
        self._start = ticks_ms()
        self._shown: tuple | None = None

    def set(self, pat: str, col=None, dur: int = 0) -> None:
        if pat not in _TABLE:
            raise ValueError("unknown light pattern " + pat)
        if dur > 0 or pat == "false":
            until = ticks_add(ticks_ms(), dur if dur > 0 else FALSE_FLASH_MS)
            self._temp = (pat, col or self.colour, until)
            if pat == "false" and dur <= 0:
                self._base, self._base_col = "locked", self.colour
        else:
            self._temp = None
            self._base = pat
            self._base_col = col or self.colour
        self._start = ticks_ms()

    def set_link(self, up: bool) -> None:
        if self._offline == up:
            self._offline = not up
            self._start = ticks_ms()

    def configure(self, colour: str, bri: int) -> None:
        self.colour = colour
        self.bri = bri
        if self._base in ("idle", "armed", "winner"):
            self._base_col = colour

    def current(self):
        """The pattern and colour shown now: (pattern, "rrggbb")."""
        if self._temp is not None:
            now = ticks_ms()
            # ticks_ms values are compared through ticks_diff only (they wrap)
            if ticks_diff(self._temp[2], now) > 0:
                return self._temp[0], self._temp[1]
            self._temp = None
        if self._offline:
            return "offline", self.colour
        return self._base, self._base_col

    def frame(self):
        """The RGB triple to show at this instant."""
        pat, col = self.current()
        src, on, off, div = _TABLE[pat]
        if src == "own" or src == "cmd":
            src = col
        if off and ticks_diff(ticks_ms(), self._start) % (on + off) >= on:
            return 0, 0, 0
        r, g, b = parse_colour(src)
        k = self.bri // div
        return r * k // 255, g * k // 255, b * k // 255

    async def run(self) -> None:
        while True:
            rgb = self.frame()
            if rgb != self._shown:
                self._shown = rgb
                self._driver.show(rgb[0], rgb[1], rgb[2])
            await asyncio.sleep_ms(self.FRAME_MS)

    def deinit(self) -> None:
        self._driver.show(0, 0, 0)
