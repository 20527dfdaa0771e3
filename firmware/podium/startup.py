# Start-up only: read the local config (podium.json), load the board profile, read the stored
# capture bound, make the messages fixed for a boot (presence, hello's tail). podium.app.main
# uses it to build the Podium, then drops it (podium.drop): none of this code stays on the heap
# once the podium runs (the selftest and a clean stop load it again for a moment).
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


def hello_tail(hw: str, board: str, fw: str, cap) -> bytes:
    """What follows pt in this boot's hello: hw, board, fw and the stored capture bound."""
    t = ',"hw":' + _text(hw) + ',"board":' + _text(board) + ',"fw":' + _text(fw)
    if cap is not None:
        t += ',"cap":[' + str(cap[0]) + "," + str(cap[1]) + "]"
    return (t + "}").encode()
