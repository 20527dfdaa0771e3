# Podium configuration: the per-podium settings from the retained config topic, cached in flash
# as JSON so the podium starts right without the host. The local install-time file (Wi-Fi,
# broker, credentials, board) is read at start-up only, by podium.startup.
import json

DEFAULTS = {"name": "", "col": "ffffff", "bri": 64, "deb": 20, "hb": 1000}
CAPTURE_FILE = "selftest.json"  # the capture selftest's result, announced in hello.cap
_SETTINGS = ("name", "col", "bri", "deb", "hb")


def _read_json(path: str):
    with open(path) as f:
        return json.load(f)


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


def save_json(path: str, obj) -> None:
    """Write obj as JSON atomically: a power cut leaves the old file, never half of one."""
    import os

    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
    os.rename(tmp, path)
