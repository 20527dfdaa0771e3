"""The ``osc`` adapter's presets: for each desk, its default port, variables and mapping rules.

A show file's ``map`` entries are merged over the preset's by name (same name: replaced;
``enabled = false``: removed; new name: added), and its ``vars`` over the preset's. The full
tables, and what to set up on each desk, are in docs/adapters/osc.md.
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Preset(NamedTuple):
    port: int
    vars: dict[str, Any]
    rules: dict[str, dict[str, Any]]
    ping: tuple[str, tuple[Any, ...]] | None = None  # sent every ping period
    pong: str = ""  # an address (prefix) the desk answers with: status ok while it does
    tcp_ports: dict[str, int] = {}  # transport -> port, where TCP listens elsewhere than UDP

    def port_for(self, transport: str) -> int:
        return self.tcp_ports.get(transport, self.port)


def _flag(state: str, path: str, on: Any = 1.0, off: Any = 0.0) -> dict[str, Any]:
    return {"state": state, "path": path, "set": [on], "clear": [off]}


def _event(on: str, path: str, *args: Any) -> dict[str, Any]:
    return {"on": on, "path": path, "args": list(args)}


QLCPLUS = Preset(
    port=7700,
    vars={},
    rules={
        "winner": _flag("seat.winner", "/buzzline/{seat}/winner"),
        "locked": _flag("seat.locked", "/buzzline/{seat}/locked"),
        "false": _flag("seat.false", "/buzzline/{seat}/false"),
        "armed": _flag("armed", "/buzzline/armed"),
        "open": _flag("open", "/buzzline/open"),
        "answering": _flag("answering", "/buzzline/answering"),
        "right": _flag("judged_right", "/buzzline/judged/right"),
        "wrong": _flag("judged_wrong", "/buzzline/judged/wrong"),
        "r": _event("colour", "/buzzline/{seat}/r", "{rf}"),
        "g": _event("colour", "/buzzline/{seat}/g", "{gf}"),
        "b": _event("colour", "/buzzline/{seat}/b", "{bf}"),
    },
)

EOS = Preset(
    port=8000,
    vars={"cuelist": 1, "level": 100.0},
    rules={
        "fire": _event("winner", "/eos/cue/{cuelist}/{seat}/fire"),
        "reset": _event("question", "/eos/cue/{cuelist}/{reset_cue}/fire"),
        "chan": _flag("seat.winner", "/eos/chan/{chan}", "{level}", 0.0),
    },
    ping=("/eos/ping", ()),
    pong="/eos/out/ping",
    tcp_ports={"tcp-length": 3032, "tcp-slip": 3037},
)

QLAB = Preset(
    port=53000,
    vars={"buzz_cue": "buzz-{seat}", "right_cue": "right", "wrong_cue": "wrong", "timeout_cue": "timeout"},
    rules={
        "connect": _event("connect", "/connect", "{passcode}"),
        "buzz": _event("winner", "/cue/{buzz_cue}/start"),
        "right": _event("judged_right", "/cue/{right_cue}/start"),
        "wrong": _event("judged_wrong", "/cue/{wrong_cue}/start"),
        "timeout": _event("timeout", "/cue/{timeout_cue}/start"),
    },
    ping=("/thump", ()),
    pong="/reply",
)

GRANDMA3 = Preset(
    port=8000,
    vars={"prefix": "gma3", "winner_cmd": "Go+ Executor {exec}"},
    rules={
        "winner": _event("winner", "/{prefix}/cmd", "{winner_cmd}"),
        "reset": _event("question", "/{prefix}/cmd", "{reset_cmd}"),
    },
)

COMPANION = Preset(
    port=12321,
    vars={},
    rules={
        "phase": _event("phase", "/custom-variable/buzzline_phase/value", "{phase}"),
        "question": _event("question", "/custom-variable/buzzline_question/value", "s:{q}"),
        "winner": _event("winner", "/custom-variable/buzzline_winner/value", "{player}"),
        "winner_seat": _event("winner", "/custom-variable/buzzline_winner_seat/value", "s:{seat}"),
        "winner_clear": _event("question", "/custom-variable/buzzline_winner/value", ""),
        "score": _event("score", "/custom-variable/buzzline_score_{seat}/value", "s:{score}"),
    },
)

NONE = Preset(port=9000, vars={}, rules={})

PRESETS: dict[str, Preset] = {
    "none": NONE,
    "qlcplus": QLCPLUS,
    "eos": EOS,
    "qlab": QLAB,
    "grandma3": GRANDMA3,
    "companion": COMPANION,
}


def merged(
    preset: Preset, rules: dict[str, Any], variables: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The preset's rules and variables with the show file's over them (by name)."""
    out = {name: dict(spec) for name, spec in preset.rules.items()}
    for name, spec in rules.items():
        out[name] = spec
    return out, {**preset.vars, **variables}
