# Start-up only: read the local config (podium.json), load the board profile, read the stored
# capture bound. podium.app.main uses it to build the Podium, then drops it (podium.drop): none
# of this code stays on the heap once the podium runs.
import json

from podium.config import CAPTURE_FILE


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
