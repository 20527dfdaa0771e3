"""The operator API's input checks, and the command signatures they rely on."""

from __future__ import annotations

import ast
import inspect
import json

import pytest
from buzzline.core import events as ev
from buzzline.core import game, roster
from buzzline.web.api_input import MAX_STRING, BadInput, check_args, check_command, decode_json


def _reads(module: object) -> dict[str, set[str]]:
    """The argument names each ``_cmd_NAME`` method of a core module reads from ``args``."""
    out: dict[str, set[str]] = {}
    for node in ast.walk(ast.parse(inspect.getsource(module))):  # type: ignore[arg-type]
        if isinstance(node, ast.FunctionDef) and node.name.startswith("_cmd_"):
            keys = out.setdefault(node.name.removeprefix("_cmd_"), set())
            for sub in ast.walk(node):
                if (
                    isinstance(sub, ast.Call)
                    and isinstance(sub.func, ast.Attribute)
                    and isinstance(sub.func.value, ast.Name)
                    and sub.func.value.id == "args"
                    and sub.args
                    and isinstance(sub.args[0], ast.Constant)
                ):
                    keys.add(sub.args[0].value)
                if (
                    isinstance(sub, ast.Subscript)
                    and isinstance(sub.value, ast.Name)
                    and sub.value.id == "args"
                ):
                    assert isinstance(sub.slice, ast.Constant)
                    keys.add(sub.slice.value)
    return out


def test_the_signatures_match_what_the_engine_reads() -> None:
    reads = _reads(game) | _reads(roster)
    assert set(reads) | {"undo", "redo"} == set(ev.COMMANDS)
    for name, keys in reads.items():
        assert keys == ev.COMMAND_ARGS[name], name


def test_a_command_is_checked_against_its_signature() -> None:
    assert check_command({"name": "judge", "args": {"correct": True}}) == ("judge", {"correct": True})
    assert check_command({"name": "read", "args": None}) == ("read", {})
    assert check_args("adjust", {"player": "a", "delta": 2.5, "reason": "r" * MAX_STRING})
    for name, args, reason in [
        ("arm", {"name": "x"}, "arm takes no arguments, not 'name'"),
        ("assign", {"podium": "p1", "seat": 2}, "assign takes create, player, podium, team, not 'seat'"),
        ("adjust", {"player": "a", "delta": float("nan")}, "not a finite number"),
        ("adjust", {"reason": "r" * (MAX_STRING + 1)}, f"over {MAX_STRING} characters"),
        ("adjust", {"player": {"a": 1}}, "must be text"),
        ("fly", {}, "unknown command"),
    ]:
        with pytest.raises(BadInput, match=reason):
            check_args(name, args)


@pytest.mark.parametrize(
    "text",
    [
        "NaN",
        "[Infinity]",
        '{"a":-Infinity}',
        "1e400",
        "[" * 9 + "]" * 9,
        "[" * 30000 + "]" * 30000,
        "{",
        "",
        "\ufeff{}",
    ],
)
def test_decode_refuses_what_json_would_let_through(text: str) -> None:
    with pytest.raises(BadInput) as e:
        decode_json(text.encode())
    assert e.value.status == 400 and e.value.reason


def test_decode_keeps_good_json() -> None:
    body = {"name": "adjust", "args": {"player": "Zoë", "delta": -5, "reason": None}}
    assert decode_json(json.dumps(body).encode()) == body
    assert decode_json(("[" * 8 + "]" * 8).encode()) == json.loads("[" * 8 + "]" * 8)
    assert decode_json(b"1.5e3") == 1500.0
