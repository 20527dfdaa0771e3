# Buzzline protocol v1 topic tree, shared by firmware and host (MicroPython-safe).
# buzzline/STUDIO/podium/ID/{up,presence,sync,syncr,cmd,config}
# buzzline/STUDIO/podium/all/cmd          broadcast commands (lock, arm, light)
# buzzline/STUDIO/game/state              retained viewer state
# buzzline/STUDIO/game/events             the host's notices, one message per event
# buzzline/STUDIO/host/{presence,rejects}
from buzzline_protocol.messages import R_TOPIC, ProtocolError, valid_id

ROOT = "buzzline"
ALL = "all"  # reserved: the broadcast address, never a podium id

# leaf -> message kinds allowed on it
PODIUM_LEAVES = {
    "up": ("hello", "hb", "buzz", "ack", "fault"),
    "presence": ("presence",),
    "sync": ("sync",),
    "syncr": ("syncr",),
    "cmd": ("arm", "lock", "light", "ident", "selftest", "askhello"),
    "config": ("config",),
}
# who publishes on each podium leaf
UPSTREAM = ("up", "presence", "sync")


def podium(studio: str, pid: str, leaf: str) -> str:
    return ROOT + "/" + studio + "/podium/" + pid + "/" + leaf


def game_state(studio: str) -> str:
    return ROOT + "/" + studio + "/game/state"


def game_events(studio: str) -> str:
    return ROOT + "/" + studio + "/game/events"


def host(studio: str, leaf: str) -> str:
    return ROOT + "/" + studio + "/host/" + leaf


def podium_filter(studio: str, leaf: str) -> str:
    """Subscription filter for one leaf of every podium."""
    return ROOT + "/" + studio + "/podium/+/" + leaf


def parse_podium(studio: str, topic: str):
    """Return (podium id, leaf) for a podium topic of this studio, else raise ProtocolError."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != ROOT or parts[1] != studio or parts[2] != "podium":
        raise ProtocolError(R_TOPIC, "not a podium topic of this studio")
    pid = parts[3]
    leaf = parts[4]
    if leaf not in PODIUM_LEAVES:
        raise ProtocolError(R_TOPIC, "unknown leaf")
    if pid == ALL:
        if leaf != "cmd":
            raise ProtocolError(R_TOPIC, "broadcast only on cmd")
    elif not valid_id(pid):
        raise ProtocolError(R_TOPIC, "bad podium id in topic")
    return pid, leaf


def check_kind(leaf: str, kind: str) -> None:
    if kind not in PODIUM_LEAVES[leaf]:
        raise ProtocolError(R_TOPIC, kind + " not allowed on " + leaf)
