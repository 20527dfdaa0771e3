# The capture selftest (issue 16), loaded only when asked for (`selftest` command, or
# "selftest" in podium.json from `buzzline flash --selftest`) and dropped after the run.
# A jumper joins the board's selftest pin to the button input; the output is toggled and each
# edge captured by the button's own IRQ handler into its ring, in three conditions: idle,
# with traffic (sync requests and replies every 5 ms), during sync bursts. The latency from
# the toggle to the handler's ticks_us goes into a histogram (a list of thousands would need
# a block the heap may not have); its p99 (never read low: a bucket's upper edge) and the
# exact maximum are the capture bound, stored in flash and announced in every hello as cap.
import asyncio
from array import array
from time import ticks_diff, ticks_us

from micropython import const

from podium import FW_VERSION, drop
from podium.config import CAPTURE_FILE, save_json

_K_HELLO = const(4)  # podium.app's record kind for a hello

HIST = const(84)  # latency histogram buckets: exact below 16 µs, then 4 per octave up to 1 s


def hist_bucket(us: int) -> int:
    if us < 16:
        return us if us > 0 else 0
    e = 0
    t = us
    while t > 1:
        t >>= 1
        e += 1
    b = 16 + (e - 4) * 4 + ((us >> (e - 2)) & 3)
    return b if b < HIST else HIST - 1


def hist_upper(b: int) -> int:
    """The largest latency (µs) bucket b holds: a percentile read from it is never low."""
    if b < 16:
        return b
    e = (b - 16) // 4 + 4
    return ((4 + (b - 16) % 4 + 1) << (e - 2)) - 1


def hist_pct(hist, q: int) -> int:
    n = 0
    for c in hist:
        n += c
    rank = (n * q + 99) // 100
    seen = 0
    for b in range(len(hist)):
        seen += hist[b]
        if seen >= rank:
            return hist_upper(b)
    return 0


async def edges(button, out, n: int, hist) -> int:
    """Toggle `out` (jumpered to this input) n times (rounded up to even: it ends released);
    count each latency from the toggle to this handler's timestamp into `hist` (see
    hist_bucket); returns the largest in µs, or -1 when an edge does not arrive within
    200 ms (no jumper). A histogram, not a list: the heap may have no block for one."""
    button.drain()
    button._selftest = True
    top = 0
    try:
        for i in range(n + n % 2):
            r = button._w  # the slot the handler fills next
            t0 = ticks_us()
            out.value(i % 2)  # 0: press edge, 1: release edge
            while button._w == r:
                await asyncio.sleep_ms(0)  # a soft IRQ runs at the next opportunity
                if button._w == r and ticks_diff(ticks_us(), t0) > 200000:
                    out.value(1)
                    return -1
            d = ticks_diff(button._t[r], t0)
            hist[hist_bucket(d)] += 1
            if d > top:
                top = d
            button._r = button._w  # consumed here
            if i % 50 == 49:
                await asyncio.sleep_ms(1)  # let the link and the other tasks run
    finally:
        button._r = button._w
        button._selftest = False
    return top


def start(app, n: int) -> None:
    """The `selftest` command (podium.app's job): never while armed, one run at a time."""
    if app.armed:
        print("podium: no selftest while armed")
        drop("podium.selftest")
    elif app._selftest_task is None or app._selftest_task.done():
        app._selftest_task = asyncio.create_task(run(app, n))


async def run(app, n: int) -> None:
    """Measure, print, store in flash, announce in hello; app is the Podium."""
    # Capture selftest (issue 16): edges from the selftest pin through a jumper into the
    # button input, captured by the button's own IRQ handler (Button.selftest), in three
    # conditions: idle, with traffic (sync requests and replies every 5 ms), during sync
    # bursts. Stored in flash and announced in every hello as cap = [p99, max].
    while not app.mqtt.up:
        await asyncio.sleep_ms(100)
    app.lights.set("identify")
    out = app.board.selftest_output()
    total = array("H", bytes(2 * HIST))
    top = 0
    try:
        for phase in ("idle", "traffic", "sync"):
            app._sync_flood = 5 if phase == "traffic" else (-1 if phase == "sync" else 0)
            hist = array("H", bytes(2 * HIST))
            worst = await edges(app.button, out, n, hist)
            if worst < 0:
                print("selftest: no edge on the button input: is the jumper fitted?")
                return
            print("selftest", phase, "p50/p99/max us", hist_pct(hist, 50), hist_pct(hist, 99), worst)
            for b in range(HIST):
                total[b] += hist[b]
            top = max(top, worst)
    finally:
        app._sync_flood = 0
        app.lights.set("idle")
        drop("podium.selftest")  # not resident once done
    app.cap = [min(hist_pct(total, 99), top), top]
    try:
        save_json(app.board.state_dir + "/" + CAPTURE_FILE, {"cap": app.cap, "n": n, "fw": FW_VERSION})
    except OSError as e:
        print("selftest: cannot store the result", repr(e))
    from podium import startup

    app._wire = startup.make_wire(app)
    del startup
    drop("podium.startup")
    drop("podium.config")  # loaded with this module and podium.startup
    app.mqtt.publish(app.t_up, app._record(_K_HELLO, app._now_watermark(), 0, 0), 1, False, True)
    print("selftest: capture bound p99", app.cap[0], "max", app.cap[1], "us, stored, announced")
