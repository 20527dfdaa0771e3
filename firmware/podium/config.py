# Podium configuration: the per-podium settings from the retained config topic, cached in flash
# as JSON so the podium starts right without the host. A one-job module: loaded at start-up
# (podium.startup), for a config message and for the selftest's result, and dropped after each
# (podium.drop); the running podium keeps only the values, a dict (Podium.settings).
import json

DEFAULTS = {"name": "", "col": "ffffff", "bri": 64, "deb": 20, "hb": 1000}
CACHE_FILE = "podium_cfg.json"  # the settings last received, in the board's state_dir
CAPTURE_FILE = "selftest.json"  # the capture selftest's result, announced in hello.cap
_SETTINGS = ("name", "col", "bri", "deb", "hb")


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


def load(state_dir: str, pid: str) -> dict:
    """Per-podium settings: defaults, then the flash cache (the retained topic comes later)."""
    values = dict(DEFAULTS)
    values["name"] = pid
    try:
        cached = _read_json(state_dir + "/" + CACHE_FILE)
        if isinstance(cached, dict):
            _merge(values, cached)
    except (OSError, ValueError):
        pass  # no cache yet (first boot) or a torn write: defaults until the host sends one
    return values


def _merge(values: dict, msg: dict) -> bool:
    changed = False
    for k in _SETTINGS:
        if k in msg and msg[k] != values.get(k):
            values[k] = msg[k]
            changed = True
    return changed


def apply(p, msg: dict) -> None:
    """Apply a validated config message to the running podium p (podium.app.Podium): its
    settings, lights and debounce; persist the settings when they changed."""
    values = p.settings
    changed = _merge(values, msg)
    if changed:
        try:
            save_json(p.board.state_dir + "/" + CACHE_FILE, values)
        except OSError as e:
            print("podium: cannot cache config", repr(e))
    p.lights.configure(values["col"], values["bri"])
    p.button.DEBOUNCE_MS = values["deb"]
    if changed:
        print("podium: config applied", values["name"])


def save_json(path: str, obj) -> None:
    """Write obj as JSON atomically: a power cut leaves the old file, never half of one."""
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)
