# Start-up only: read the local config (podium.json), load the board profile, read the stored
# capture bound, make the messages fixed for a boot (presence, hello's tail) and build the
# Podium's parts. podium.app.main uses it to build the Podium, then drops it (podium.drop):
# none of this code stays on the heap once the podium runs (the selftest and a clean stop load
# it again for a moment).
import json
from os import urandom

from podium.config import CAPTURE_FILE


def early_buffer(n: int) -> bytearray:
    """One of the buffers allocated first (podium/__init__.py), or a new one."""
    import podium

    early = podium._EARLY
    for i in range(len(early)):
        if len(early[i]) == n:
            return early.pop(i)
    return bytearray(n)


def make_room() -> None:
    """Free the block held back since the package's import, for the objects built next."""
    import gc

    import podium

    podium._room = None
    gc.collect()


class ConfigError(ValueError):
    pass


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def load_local(path: str) -> dict:
    """Read podium.json (written by `buzzline flash`); raises ConfigError with a reason."""
    try:
        cfg = _read_json(path)
    except OSError:
        raise ConfigError("cannot read local config " + path)
    except ValueError:
        raise ConfigError("local config " + path + " is not valid JSON")
    if not isinstance(cfg, dict):
        raise ConfigError("local config must be a JSON object")
    for key in ("board", "broker", "studio"):
        if not isinstance(cfg.get(key), str) or not cfg[key]:
            raise ConfigError("local config needs a string " + key)
    host, _, port = cfg["broker"].rpartition(":")
    try:
        cfg["port"] = int(port) if host else 1883
    except ValueError:
        raise ConfigError("broker must be HOST:PORT")
    cfg["host"] = host if host else cfg["broker"]
    return cfg


def load_board(local: dict):
    """The board profile named in the local config (podium/board/: one module per board)."""
    name = local.get("board")
    if name == "esp32":
        from podium.board import esp32

        return esp32.make_board(local)
    if name == "picow":
        from podium.board import picow

        return picow.make_board(local)
    if name == "unix":
        from podium.board import unix

        return unix.make_board(local)
    raise ValueError("unknown board " + str(name) + ", expected one of esp32, picow, unix")


def load_capture(state_dir: str):
    """The stored selftest result's [p99_us, max_us], or None (never run, or unreadable)."""
    try:
        cap = _read_json(state_dir + "/" + CAPTURE_FILE).get("cap")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(cap, list) and len(cap) == 2:
        p99, top = cap
        if isinstance(p99, int) and isinstance(top, int) and 0 <= p99 <= top:
            return cap
    return None


def _text(s: str) -> str:
    # a JSON string as the codec writes it: quote, backslash and control characters escaped
    out = '"'
    for c in s:
        if c == '"' or c == "\\":
            out += "\\" + c
        elif c < " ":
            h = hex(ord(c))[2:]
            out += "\\u" + "0" * (4 - len(h)) + h
        else:
            out += c
    return out + '"'


def presence(pid: str, boot: int, state: str) -> bytes:
    return (
        '{"v":1,"t":"presence","id":"' + pid + '","state":"' + state + '","b":' + str(boot) + "}"
    ).encode()


def hello_tail(hw: str, board: str, fw: str, cap, rel: str = "") -> bytes:
    """What follows pt in this boot's hello: hw, board, fw, the stored capture bound and the
    running release (absent: the flashed firmware)."""
    t = ',"hw":' + _text(hw) + ',"board":' + _text(board) + ',"fw":' + _text(fw)
    if cap is not None:
        t += ',"cap":[' + str(cap[0]) + "," + str(cap[1]) + "]"
    if rel:
        t += ',"rel":' + _text(rel)
    return (t + "}").encode()


# The Podium's attributes that build() sets (podium.app.Podium declares them)
_PARTS = (
    "local", "board", "pid", "boot", "clock", "settings", "lights", "button", "cap", "_wire",
    "_online", "_leaves", "t_up", "t_presence", "t_sync", "mqtt", "SYNC_PERIOD_MS",
)  # fmt: skip


def declare(p) -> None:
    """Make every attribute of the Podium in one go: its parts (None until build) and its own
    state (what each is: the annotations on podium.app.Podium)."""
    import asyncio
    from time import ticks_ms, ticks_us

    from podium.app import _RECORDS

    for name in _PARTS:
        setattr(p, name, None)
    p.seq = 0
    p.epoch = 0
    p.armed = False
    p.faults = 0
    p.gc_forced = 0
    p.armed_collects = 0
    p.heap_peak = 0
    p.heap_live = 0
    p.heap_free_at_arm = 0
    p.heap_free_at_arm_min = 0
    p.armed_alloc_max = 0
    p._arm_alloc = 0
    p._mem_errors = 0
    p._gc_off_when_sent = False
    p.t_press_us = ticks_us()
    p.t_lock_us = p.t_press_us
    p.t_winner_us = p.t_press_us
    p.restarts = 0
    p._press_ep = -1
    p._fp = 0
    p._np = 0
    p._hb_queued = False
    p._recs = [[0, 0, 0, 0, 0, 0, 0] for _ in range(_RECORDS)]
    p._nrec = _RECORDS
    p._tasks = []
    p._task_fns = []
    p._recent_cs = [-1] * p.RECENT_CS
    p._recent_i = 0
    p._host = 0
    p.host_epoch = 0
    p._exchanges = 0  # sync replies matched since the last burst began
    p._sync_n = 0
    p._sync_t1 = 0
    p._prev = None
    p._last_sync = ticks_ms()
    p._stop = asyncio.Event()
    p._selftest_task = None
    p._sync_flood = 0


def build(p, local: dict, board) -> None:
    """Build the Podium's parts (podium.app.Podium.__init__ calls it): board, id, boot nonce,
    clock, settings, lights, button, the stored capture bound, the encoders, the topics and
    the MQTT link (the board is loaded already). Raises ConfigError for a bad id."""
    from buzzline_protocol import topics
    from buzzline_protocol.messages import valid_id

    if not local.get("rel"):  # the running release: none picked (never updated) is the flashed one
        local["rel"] = {"cur": "", "ver": "", "good": 1}

    from podium import config
    from podium.button import Button
    from podium.clock import PodiumClock
    from podium.lights import Lights

    # Largest first (the link's attribute table, then the button's), while the room is whole.
    p.local = local
    p.board = board
    board.app = p
    pid = local.get("id") or board.unique_id()
    if not valid_id(pid):
        raise ConfigError("podium id must be 1-32 of [a-z0-9_-]")
    p.pid = pid
    studio = local["studio"]
    p.boot = int.from_bytes(urandom(4), "big") & 0x7FFFFFFF
    p.cap = load_capture(board.state_dir)  # [p99_us, max_us] or None
    p._wire = make_wire(p)
    p._online = presence(pid, p.boot, "online")
    # leaf -> kinds allowed on it, checked per message: the protocol's table, for the leaves a
    # podium subscribes to
    p._leaves = {k: topics.PODIUM_LEAVES[k] for k in ("cmd", "syncr", "config", "presence")}
    p.t_up = topics.podium(studio, pid, "up")
    p.t_presence = topics.podium(studio, pid, "presence")
    p.t_sync = topics.podium(studio, pid, "sync")
    will = (p.t_presence, presence(pid, p.boot, "offline"), 1, True)
    subs = (
        (topics.podium(studio, pid, "cmd"), 1),
        (topics.podium(studio, topics.ALL, "cmd"), 1),
        (topics.podium(studio, pid, "syncr"), 0),
        (topics.podium(studio, pid, "config"), 1),
        (topics.host(studio, "presence"), 1),
        (topics.podium(studio, pid, "fw"), 1),  # firmware updates: podium.fwreq queues them
    )
    p.mqtt = link(local, "bz-" + pid, will, (p.t_presence, p._online, True), subs, p._on_msg, p, board.net_up)
    p.mqtt.BACKOFF_MAX_MS = local.get("backoff_max_ms", p.mqtt.BACKOFF_MAX_MS)
    p.clock = PodiumClock()
    p.settings = config.load(board.state_dir, pid)
    p.lights = Lights(board.light, p.settings["col"], p.settings["bri"])
    p.button = Button(board.button_pin, p._on_press, p._on_fault)
    p.button.DEBOUNCE_MS = p.settings["deb"]
    p.button.STUCK_MS = local.get("stuck_ms", Button.STUCK_MS)
    p.SYNC_PERIOD_MS = local.get("sync_period_ms", p.SYNC_PERIOD_MS)
    board.attach_button(p.button.handler)


def link(local: dict, client_id: str, will, birth, subs, on_msg, app=None, net_up=None):
    """The MQTT link (podium.mqtt.MQTTClient) to local's broker with local's login, its state
    made here so its code is not resident (what each field is: the class's annotations).
    ``app``: the Podium whose callbacks it calls (up, down, records), or None (messages only)."""
    import asyncio
    from time import ticks_ms

    from podium.mqtt import MQTTClient

    c = object.__new__(MQTTClient)
    c._addr = (local["host"], local["port"])
    c._login = (client_id, local.get("user"), local.get("secret"))
    c.keepalive = local.get("keepalive", 10)
    c.will = will
    c.birth = birth
    c.subs = subs
    c.on_msg = on_msg
    c.on_up = c.on_down = c.prepare = c.render = c.release = None
    if app is not None:
        c.on_up = app._on_up
        c.on_down = app._on_down
        c.prepare = app._prepare
        c.render = app._render
        c.release = app._release
    c.net_up = net_up
    c.up = c.held = c._resend_due = c._dead = False
    c.drops = c.connects = c.mem_errors = c.mem_site = c.too_long = c.read_poll_ms = 0
    c.last_error = ""
    c._q = []
    c._inflight = []
    c._free = [None] * (c.QUEUE_MAX + c.INFLIGHT)
    c._nfree = c._pid = 0
    c._wake = asyncio.Event()
    c._sock = None
    c._out = b""
    c._last_tx = c._last_rx = ticks_ms()
    # outbound packet buffer: header, topic (84 at most) and a record (the longest, a hello, 251)
    c._tx = early_buffer(384)
    c._rx = early_buffer(640)  # inbound packet (command or config: 512 + topic); longer: dropped
    c._chunk = early_buffer(128)  # bytes read from the socket at once
    c._puback = bytearray(b"\x40\x02\x00\x00")
    c._reset_parser()
    c._topics = {}
    return c


def make_wire(p):
    """The encoders for this boot; hello's fields after pt are fixed for a boot (until a
    selftest measures a new capture bound)."""
    from podium import FW_VERSION
    from podium.wire import UpWriter

    rel = p.local["rel"]  # the running release (firmware/relboot.py)
    return UpWriter(
        p.pid, p.boot, hello_tail(p.board.hw, p.board.name, rel["ver"] or FW_VERSION, p.cap, rel["cur"])
    )


def report(p, step: str, ver, rel, pct=None, err=None, got=None) -> None:
    """A fwst (retained) on the podium's topic (SPEC 3.10); ``p``: the Podium, or update mode's
    owner of the link (podium.update.Mode: pid, boot, local, mqtt)."""
    msg = {"v": 1, "t": "fwst", "id": p.pid, "b": p.boot, "step": step}
    if pct is not None:
        msg["pct"] = pct
    if ver:
        msg["ver"] = ver
    if rel:
        msg["rel"] = rel
    if err is not None:
        msg["err"] = err
    if got is not None:
        msg["got"] = got
    # json, not the codec's encoder: a podium does not load it (the host decodes either)
    topic = "buzzline/" + p.local["studio"] + "/podium/" + p.pid + "/fwst"
    p.mqtt.publish(topic, json.dumps(msg).encode(), 1, True)


def start(p) -> list:
    """Start the podium's tasks (podium.app.Podium.run); returns those the supervisor does not
    restart."""
    import asyncio

    from podium import FW_VERSION

    p.lights.set_link(False)
    p._task_fns = [p.mqtt.run, p.button.run, p.button.monitor, p.lights.run, p._tick_loop, p._sync_loop]
    p._tasks = [asyncio.create_task(f()) for f in p._task_fns]
    tasks = [asyncio.create_task(c) for c in p.board.tasks()]
    tasks.append(asyncio.create_task(p._supervise()))
    # Firmware updates (SPEC 3.10): what the last command in update mode came to (podium.update
    # leaves it in fw/said), a release that failed to start (firmware/relboot.py fell back), a
    # release on trial; each boot says so again (retained) until the next command.
    rel = p.local["rel"]
    try:
        said = _read_json("fw/said")
    except (OSError, ValueError):
        said = None
    if said:
        report(p, said[0], said[1], said[2], None, said[3])
    elif "bad" in rel:
        report(p, "rolledback", rel["bver"], rel["bad"], None, rel.get("err", "boot"))
    if not rel["good"]:
        report(p, "trial", rel["ver"], rel["cur"])
    if p.local.get("selftest") and p.cap is None:  # `buzzline flash --selftest`
        p.job("selftest", p.local["selftest"])
    print("podium", p.pid, "board", p.board.name, "fw", FW_VERSION)
    return tasks


async def stop(p, tasks: list) -> None:
    """A clean stop: say offline ourselves (DISCONNECT suppresses the will), end the tasks."""
    import asyncio

    if p.mqtt.up:
        p.mqtt.publish(p.t_presence, presence(p.pid, p.boot, "offline"), 1, True, True)
        for _ in range(50):
            if not p.mqtt.pending():
                break
            await asyncio.sleep_ms(20)
        await p.mqtt.disconnect()
    for t in tasks:
        t.cancel()
    for t in p._tasks:
        t.cancel()
    await asyncio.sleep_ms(0)
    p.deinit()
