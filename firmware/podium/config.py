# Podium configuration: the local install-time file (Wi-Fi, broker, credentials, board) and
# the per-podium settings from the retained config topic, cached in flash as JSON so the
# podium starts right without the host.
import json

DEFAULTS = {"name": "", "col": "ffffff", "bri": 64, "deb": 20, "hb": 1000}
CAPTURE_FILE = "selftest.json"  # the capture selftest's result, announced in hello.cap
_SETTINGS = ("name", "col", "bri", "deb", "hb")


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


class PodiumSettings:
    """Per-podium settings: defaults, then the flash cache, then the retained config topic."""

    def __init__(self, path: str, pid: str) -> None:
        self.path = path
        self.values = dict(DEFAULTS)
        self.values["name"] = pid
        try:
            cached = _read_json(path)
            if isinstance(cached, dict):
                self._merge(cached)
        except (OSError, ValueError):
            pass  # no cache yet (first boot) or a torn write: defaults until the host sends one

    def _merge(self, msg: dict) -> bool:
        changed = False
        for k in _SETTINGS:
            if k in msg and msg[k] != self.values.get(k):
                self.values[k] = msg[k]
                changed = True
        return changed

    def apply(self, msg: dict) -> bool:
        """Apply a validated config message; persist when it changed. Returns whether it did."""
        if not self._merge(msg):
            return False
        save_json(self.path, self.values)
        return True

    def __getitem__(self, key: str):
        return self.values[key]


def load_capture(path: str):
    """The stored selftest result's [p99_us, max_us], or None (never run, or unreadable)."""
    try:
        cap = _read_json(path).get("cap")
    except (OSError, ValueError, AttributeError):
        return None
    if isinstance(cap, list) and len(cap) == 2:
        p99, top = cap
        if isinstance(p99, int) and isinstance(top, int) and 0 <= p99 <= top:
            return cap
    return None


def save_json(path: str, obj) -> None:
    """Write obj as JSON atomically: a power cut leaves the old file, never half of one."""
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)
