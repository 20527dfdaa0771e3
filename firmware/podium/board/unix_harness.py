# The unix board's test harness, the part loaded when first used (podium.board.unix keeps the
# allocation-free fast path: press, release, light?, times?): the text commands listed at the
# top of unix.py, and the fake jumper the capture selftest toggles. Unix port only.
from time import ticks_diff, ticks_us


class FakeJumper:
    """The selftest output wired to the fake button pin. Each change waits an injected delay
    first (busy, as a GC pass or a flash write holds the interpreter), then drives the pin, so
    the selftest measures a known distribution: local config "selftest_inject_us" =
    [base, tail, every]: every `every`-th edge waits `tail` µs, the others `base` µs."""

    def __init__(self, pin, inject) -> None:
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


def command(board, line: str) -> str:
    words = line.split()
    if not words:
        return "error empty command"
    cmd = words[0]
    app = board.app
    if cmd == "press":
        board.button_pin.drive(0)
    elif cmd == "release":
        board.button_pin.drive(1)
    elif cmd == "bounce":
        try:
            n = int(words[1])
        except (IndexError, ValueError):
            return "error bounce needs a count"
        for _ in range(n):
            board.button_pin.drive(1 - board.button_pin.value())
    elif cmd == "wifi" and len(words) == 2 and words[1] in ("up", "down"):
        if words[1] == "up":
            board._wifi.set()
        else:
            board._wifi.clear()
    elif cmd == "light?":
        pat, col = app.lights.current()
        r, g, b = board.light.rgb
        return "%s %s %d,%d,%d" % (pat, col, r, g, b)
    elif cmd == "pt?":
        return "%d %d" % (app.t_press_us, app.clock.at(app.t_press_us))
    elif cmd == "heap?":
        return "%d %d" % (app.heap_peak, app.heap_live)
    elif cmd == "mem?":
        return (
            "arm_free=%d arm_free_min=%d poll_max=%d armed_max=%d forced=%d memerr=%d memsite=%d collects=%d"
            % (
                app.heap_free_at_arm,
                app.heap_free_at_arm_min,
                board.poll_max,
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
