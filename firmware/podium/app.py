# The podium application: wires button capture, podium time, clock sync, the MQTT link,
# lights and settings together, and speaks protocol v1 (buzzline_protocol) to the host.
import asyncio
import gc
from os import urandom
from time import ticks_add, ticks_diff, ticks_ms

from buzzline_protocol import codec, topics

from podium import FW_VERSION
from podium.board import load as load_board
from podium.button import Button
from podium.clock import PodiumClock
from podium.config import ConfigError, PodiumSettings, load_local
from podium.lights import Lights
from podium.mqtt import MQTTClient

_UP_KINDS = ("hello", "hb", "buzz", "ack", "fault")


class Podium:
    ARMED_HB_MS = 100
    LOOP_MS = 20
    SYNC_BURST = 8  # exchanges right after (re)connecting: the host keeps the fastest
    SYNC_BURST_GAP_MS = 60
    # Clock sync (docs/timing.md): after the burst, 16 exchanges a second for a minute, so the
    # host soon holds the few exchanges that met an idle medium both ways, then 4 a second.
    SETTLE_MS = 60000
    SETTLE_PERIOD_MS = 62
    SYNC_PERIOD_MS = 250
    SYNC_TICK_MS = 20
    GC_RESERVE = 12000  # while armed, let the GC run again if free heap falls below this
    RECENT_CS = 16  # command sequence numbers remembered to drop QoS 1 duplicates

    def __init__(self, local: dict, board=None) -> None:
        self.local = local
        self.board = board if board is not None else load_board(local)
        self.board.app = self
        pid = local.get("id") or self.board.unique_id()
        if not codec.valid_id(pid):
            raise ConfigError("podium id must be 1-32 of [a-z0-9_-]")
        self.pid = pid
        studio = local["studio"]
        self.boot = int.from_bytes(urandom(4), "big") & 0x7FFFFFFF
        self.clock = PodiumClock()
        self.settings = PodiumSettings(self.board.state_dir + "/podium_cfg.json", pid)
        self.lights = Lights(self.board.light, self.settings["col"], self.settings["bri"])
        self.button = Button(self.board.button_pin, self._on_press, self._on_fault)
        self.button.DEBOUNCE_MS = self.settings["deb"]
        self.button.STUCK_MS = local.get("stuck_ms", Button.STUCK_MS)
        self.SYNC_PERIOD_MS = local.get("sync_period_ms", Podium.SYNC_PERIOD_MS)
        self.board.attach_button(self.button.handler)
        self.seq = 0
        self.epoch = 0
        self.armed = False
        self.faults = 0
        self.gc_forced = 0
        self.heap_peak = 0
        self.heap_live = 0
        self._recent_cs: list[int] = []
        self._sync_n = 0
        self._sync_t1 = 0
        self._prev: list[int] | None = None
        self._last_sync = ticks_ms()
        self._stop = asyncio.Event()
        self.t_up = topics.podium(studio, pid, "up")
        self.t_presence = topics.podium(studio, pid, "presence")
        self.t_sync = topics.podium(studio, pid, "sync")
        will = (self.t_presence, self._presence("offline"), 1, True)
        subs = (
            (topics.podium(studio, pid, "cmd"), 1),
            (topics.podium(studio, topics.ALL, "cmd"), 1),
            (topics.podium(studio, pid, "syncr"), 0),
            (topics.podium(studio, pid, "config"), 1),
        )
        self.mqtt = MQTTClient(
            local["host"],
            local["port"],
            "bz-" + pid,
            keepalive=local.get("keepalive", 10),
            user=local.get("user"),
            password=local.get("secret"),
            will=will,
            subs=subs,
            on_msg=self._on_msg,
            on_up=self._on_up,
            on_down=self._on_down,
            prepare=self._prepare,
            net_up=self.board.net_up,
        )
        self.mqtt.BACKOFF_MAX_MS = local.get("backoff_max_ms", MQTTClient.BACKOFF_MAX_MS)

    # -- upstream ------------------------------------------------------------------------
    def _presence(self, state: str) -> bytes:
        return codec.encode({"t": "presence", "id": self.pid, "state": state, "b": self.boot})

    def _up(self, kind: str, keep: bool = False, **fields) -> None:
        msg = {"t": kind, "id": self.pid, "b": self.boot}
        for k in fields:
            msg[k] = fields[k]
        self.mqtt.publish(self.t_up, msg, 1, False, keep)

    def _prepare(self, msg: dict) -> bytes:
        # Called by the link at first transmission: seq follows the send order exactly.
        kind = msg["t"]
        if kind in _UP_KINDS:
            self.seq += 1
            msg["seq"] = self.seq
        elif kind == "sync":
            self._sync_n += 1
            self._sync_t1 = self.clock.now()
            msg["n"] = self._sync_n
            msg["t1"] = self._sync_t1
            if self._prev is not None:
                msg["prev"] = self._prev
        return codec.encode(msg)

    def _now_watermark(self) -> int:
        # Presses already in the IRQ ring are queued first, so a later pt never overtakes them.
        self.button.drain()
        return self.clock.now()

    def _on_press(self, raw: int) -> None:
        self._up("buzz", True, pt=self.clock.at(raw), ep=self.epoch)

    def _on_fault(self, code: str, n: int) -> None:
        self.faults += 1
        if n:
            self._up("fault", False, pt=self.clock.now(), code=code, n=n)
        else:
            self._up("fault", False, pt=self.clock.now(), code=code)

    def _heartbeat(self) -> None:
        rssi = self.board.rssi()
        if rssi is not None and -127 <= rssi <= 0:
            self._up("hb", pt=self._now_watermark(), ep=self.epoch, rssi=rssi)
        else:
            self._up("hb", pt=self._now_watermark(), ep=self.epoch)

    def _send_sync(self) -> None:
        self._last_sync = ticks_ms()
        self.mqtt.publish(self.t_sync, {"t": "sync", "id": self.pid, "b": self.boot}, 0)

    def _on_up(self) -> None:
        if self.armed:
            # Back from an outage while armed: collect what the reconnect left, then no GC again.
            gc.collect()
            gc.disable()
        self.lights.set_link(True)
        self.mqtt.publish(self.t_presence, self._presence("online"), 1, True, True)
        self._up(
            "hello", True, pt=self._now_watermark(), hw=self.board.hw, board=self.board.name, fw=FW_VERSION
        )

    def _on_down(self) -> None:
        # Offline no race is won in real time, and reconnecting allocates (socket, streams,
        # packets): with the GC off while armed the heap would run out. Presses keep their IRQ
        # timestamps and wait in the queue.
        gc.enable()
        self.lights.set_link(False)

    # -- downstream ----------------------------------------------------------------------
    def _on_msg(self, topic: str, payload: bytes, retained: bool) -> None:
        try:
            msg = codec.decode(payload)
            leaf = topic[topic.rfind("/") + 1 :]
            topics.check_kind(leaf, msg["t"])
        except codec.ProtocolError as e:
            print("podium: rejected message on", topic, str(e))
            return
        kind = msg["t"]
        if kind == "syncr":
            if msg["id"] == self.pid and msg["n"] == self._sync_n and msg["t1"] == self._sync_t1:
                self._prev = [msg["n"], msg["t1"], msg["t2"], msg["t3"], self.clock.now()]
        elif kind == "config":
            self._apply_config(msg)
        else:
            cs = msg["cs"]
            if cs in self._recent_cs:
                return  # a QoS 1 redelivery (or the same command on both cmd topics)
            self._recent_cs.append(cs)
            if len(self._recent_cs) > self.RECENT_CS:
                self._recent_cs.pop(0)
            self._command(kind, msg)

    def _command(self, kind: str, msg: dict) -> None:
        if kind == "lock":
            pt = self._now_watermark()
            self.epoch = msg["ep"]
            self._disarm()
            self._up("ack", True, pt=pt, cs=msg["cs"], ep=self.epoch)
            self.lights.set("locked")
        elif kind == "arm":
            self.epoch = msg["ep"]
            self.lights.set("armed")
            # Collect now, then not while armed: a collection would delay soft-IRQ capture.
            gc.collect()
            self.heap_live = max(self.heap_live, gc.mem_alloc())
            gc.disable()
            self.armed = True
        elif kind == "light":
            if "ep" in msg and msg["ep"] != self.epoch:
                print("podium: light for another epoch ignored")
                return
            self.lights.set(msg["pat"], msg.get("col"), msg.get("dur", 0))
        elif kind == "ident":
            self.lights.set("identify", None, msg["dur"])

    def _disarm(self) -> None:
        self.armed = False
        gc.enable()

    def _apply_config(self, msg: dict) -> None:
        try:
            changed = self.settings.apply(msg)
        except OSError as e:
            print("podium: cannot cache config", repr(e))
            changed = True
        self.lights.configure(self.settings["col"], self.settings["bri"])
        self.button.DEBOUNCE_MS = self.settings["deb"]
        if changed:
            print("podium: config applied", self.settings["name"])

    # -- tasks ---------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        last_hb = ticks_ms()
        while True:
            await asyncio.sleep_ms(self.LOOP_MS)
            now = ticks_ms()
            self.clock.now()  # keeps the 64-bit extension ahead of the tick wrap
            used = gc.mem_alloc()
            if used > self.heap_peak:
                self.heap_peak = used
            if self.armed and gc.mem_free() < self.GC_RESERVE:
                self.gc_forced += 1
                gc.enable()
            interval = self.ARMED_HB_MS if self.armed else self.settings["hb"]
            if ticks_diff(now, last_hb) >= interval:
                last_hb = now
                if self.mqtt.up:
                    self._heartbeat()

    async def _sync_loop(self) -> None:
        seen = 0
        settle_until = ticks_ms()
        while True:
            await asyncio.sleep_ms(self.SYNC_TICK_MS)
            if not self.mqtt.up:
                continue
            if self.mqtt.connects != seen:
                seen = self.mqtt.connects
                for _ in range(self.SYNC_BURST):
                    self._send_sync()
                    await asyncio.sleep_ms(self.SYNC_BURST_GAP_MS)
                settle_until = ticks_add(ticks_ms(), self.SETTLE_MS)
                continue
            now = ticks_ms()
            period = self.SETTLE_PERIOD_MS if ticks_diff(settle_until, now) > 0 else self.SYNC_PERIOD_MS
            if ticks_diff(now, self._last_sync) >= period:
                self._send_sync()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        self.lights.set_link(False)
        coros = [
            self.mqtt.run(),
            self.button.run(),
            self.button.monitor(),
            self.lights.run(),
            self._tick_loop(),
            self._sync_loop(),
        ]
        tasks = [asyncio.create_task(c) for c in coros + self.board.tasks()]
        gc.collect()
        self.heap_live = gc.mem_alloc()
        print("podium", self.pid, "board", self.board.name, "fw", FW_VERSION)
        await self._stop.wait()
        if self.mqtt.up:
            # A clean stop: say offline ourselves, since DISCONNECT suppresses the will.
            self.mqtt.publish(self.t_presence, self._presence("offline"), 1, True, True)
            for _ in range(50):
                if not self.mqtt.pending():
                    break
                await asyncio.sleep_ms(20)
            await self.mqtt.disconnect()
        for t in tasks:
            t.cancel()
        await asyncio.sleep_ms(0)
        self.deinit()

    def deinit(self) -> None:
        self.button.deinit()
        self.lights.deinit()
        self.board.deinit()


def main(path: str = "podium.json") -> None:
    try:
        local = load_local(path)
        podium = Podium(local)
    except (ConfigError, ValueError) as e:
        print("podium: cannot start:", str(e))
        raise SystemExit(2)
    asyncio.run(podium.run())
