"""The API described: ``/api/openapi.json`` (OpenAPI 3.1) and ``/api/docs`` (the same, as a page).

Commands are described from the engine's own tables (the phases each one works in and why it is
refused otherwise), so the docs cannot drift from what the host does. A route mounted by another
module without an entry here is still listed, with its handler's docstring.
"""

from __future__ import annotations

import html
import inspect
import re
from typing import Any

from starlette.routing import BaseRoute, Mount, Route

from buzzline import __version__
from buzzline.core import events as ev
from buzzline.core.game import COMMAND_PHASES, COMMAND_REFUSAL

_STR = {"type": "string"}
_BOOL = {"type": "boolean"}
_PODIUM = {"type": "string", "pattern": "^[a-z0-9_-]{1,16}$", "description": "podium id"}
_NAME = {"type": "string", "minLength": 1, "maxLength": 32}

# name -> (what it does, argument properties, required arguments, refusals beyond the phase)
COMMANDS: dict[str, tuple[str, dict[str, Any], list[str], list[str]]] = {
    "read": ("Start the next question: the host reads it (buzzing now is a false start).", {}, [], []),
    "arm": ("Open the buzzers (from reading, or straight from idle).", {}, [], ["no podium is assigned"]),
    "judge": (
        "Judge the answering player: right scores, wrong reopens for the others. With `podium`"
        " (the podium the operator saw answering), refused if another podium answers by now.",
        {"correct": _BOOL, "podium": _STR},
        ["correct"],
        ["judge needs correct: true or false", "the call changed: p1 answers now, not p2; judge again"],
    ),
    "timeout": ("Close the buzz window or end the answer time.", {}, [], []),
    "next": ("Move to the next question.", {}, [], ["the last question: use end"]),
    "adjust": (
        "Change a player's score by hand, with a reason (kept in the score history).",
        {
            "player": _NAME,
            "delta": {"type": "integer", "minimum": -1_000_000, "maximum": 1_000_000},
            "reason": _STR,
        },
        ["player", "delta"],
        ["unknown player", "delta must be a non-zero integer"],
    ),
    "assign": (
        "Put a player at a podium (create: true adds a new player).",
        {"podium": _PODIUM, "player": _NAME, "create": _BOOL, "team": _STR},
        ["podium", "player"],
        ["unknown player (without create)", "unknown team"],
    ),
    "unassign": ("Free a podium.", {"podium": _PODIUM}, ["podium"], ["podium is not assigned"]),
    "rename": (
        "Rename a player everywhere (score and podium follow).",
        {"player": _NAME, "to": _NAME},
        ["player", "to"],
        ["unknown player", "name taken"],
    ),
    "undo": (
        "Undo the last command (timers resume with the time they had left).",
        {},
        [],
        ["nothing to undo"],
    ),
    "redo": ("Redo the last undone command.", {}, [], ["nothing to redo"]),
    "end": ("End the show.", {}, [], []),
    "identify": (
        "Blink a podium so a technician can find it (no game state, not logged).",
        {"podium": _PODIUM, "ms": {"type": "integer", "minimum": 1, "maximum": 600_000}},
        ["podium"],
        ["unknown podium"],
    ),
    "selftest": (
        "Bring-up: the podium measures its capture bound (selftest jumper fitted) and announces it "
        "in its next hello (no game state, not logged).",
        {"podium": _PODIUM, "edges": {"type": "integer", "minimum": 100, "maximum": 10_000}},
        ["podium"],
        ["unknown podium"],
    ),
}
# Companion-style buttons: POST with no body
BUTTONS = {"judge/right": ("judge", {"correct": True}), "judge/wrong": ("judge", {"correct": False})}

_OK = {"description": "done", "content": {"application/json": {"schema": {"type": "object"}}}}
_ERR = {"content": {"application/json": {"schema": {"type": "object", "properties": {"error": _STR}}}}}
_DENIED = {"_401": "no operator token", "_403": "bad CSRF token"}
_OPERATOR: list[dict[str, list[str]]] = [{"bearer": []}, {"session": [], "csrf": []}]


def _resp(**codes: str) -> dict[str, Any]:
    out: dict[str, Any] = {"200": _OK}
    for code, why in codes.items():
        out[code.lstrip("_")] = {"description": why, **_ERR}
    return out


def _cmd_doc(name: str) -> str:
    summary, _, _, refusals = COMMANDS[name]
    phases = COMMAND_PHASES.get(name)
    when = f" Accepted while {', '.join(phases)}." if phases is not None and len(phases) < 6 else ""
    why = COMMAND_REFUSAL.get(name)
    refused = ([f"otherwise: {why}"] if why else []) + refusals
    return summary + when + (" Refused (409): " + "; ".join(refused) + "." if refused else "")


def _body(props: dict[str, Any], required: list[str]) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        schema["required"] = required
    return {"required": False, "content": {"application/json": {"schema": schema}}}


def _command_paths() -> dict[str, Any]:
    paths: dict[str, Any] = {}
    refused = _resp(_400="bad request", **_DENIED, _409="refused: why")
    for name in (*ev.COMMANDS, *ev.HOST_COMMAND_ARGS):
        _, props, required, _ = COMMANDS[name]
        op: dict[str, Any] = {
            "summary": f"{name} (button form: no body needed)" if not required else name,
            "description": _cmd_doc(name) + " Arguments come from the JSON body or the query string.",
            "operationId": f"cmd_{name}",
            "tags": ["commands"],
            "security": _OPERATOR,
            "responses": refused,
        }
        if props:
            op["requestBody"] = _body(props, required)
        paths[f"/api/cmd/{name}"] = {"post": op}
    for path, (name, args) in BUTTONS.items():
        paths[f"/api/cmd/{path}"] = {
            "post": {
                "summary": f"{name} {args} (button form: no body)",
                "description": _cmd_doc(name),
                "operationId": "cmd_" + path.replace("/", "_"),
                "tags": ["commands"],
                "security": _OPERATOR,
                "responses": refused,
            }
        }
    return paths


def _ops() -> dict[str, dict[str, Any]]:
    any_command = {
        "type": "object",
        "required": ["name"],
        "properties": {
            "name": {"type": "string", "enum": [*ev.COMMANDS, *ev.HOST_COMMAND_ARGS]},
            "args": {"type": "object"},
        },
    }
    adapter_new = {
        "type": "object",
        "required": ["name", "kind"],
        "properties": {
            "name": {"type": "string", "minLength": 1, "maxLength": 64},
            "kind": _STR,
            "config": {"type": "object"},
        },
    }
    adapter_change = {"type": "object", "properties": {"config": {"type": "object"}, "enabled": _BOOL}}
    name_param = [{"name": "name", "in": "path", "required": True, "schema": _STR}]

    def op(
        summary: str, tag: str, *, secure: bool = False, body: Any = None, responses: Any = None
    ) -> dict[str, Any]:
        out: dict[str, Any] = {"summary": summary, "tags": [tag], "responses": responses or _resp()}
        if secure:
            out["security"] = _OPERATOR
        if body is not None:
            out["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
        return out

    html_ok = {"200": {"description": "a page", "content": {"text/html": {"schema": _STR}}}}
    return {
        "/": {
            "get": op(
                "Redirect to the console.", "console", responses={"307": {"description": "to /console"}}
            )
        },
        "/api": {"get": op("Where everything is: links to the console, docs, state and metrics.", "state")},
        "/api/state": {"get": op("The whole game and host state the console draws from.", "state")},
        "/api/command": {
            "post": op(
                "Any operator command by name: {name, args}. See /api/cmd/* for each one.",
                "commands",
                secure=True,
                body=any_command,
                responses=_resp(_400="bad request", **_DENIED, _409="refused: why"),
            )
        },
        "/api/preflight/ack": {
            "post": op(
                "Acknowledge the pre-show check's findings: the console stops listing them until a "
                "new one turns up.",
                "console",
                secure=True,
                responses=_resp(**_DENIED),
            )
        },
        "/api/adapters": {
            "get": op(
                "Adapter instances (kind, status, message, queue depth, drops) and installed kinds "
                "with their settings schemas.",
                "adapters",
            ),
            "post": op(
                "Add and start an adapter instance.",
                "adapters",
                secure=True,
                body=adapter_new,
                responses=_resp(
                    _400="bad request or unknown kind",
                    **_DENIED,
                    _409="name taken",
                    _422="bad setting: field: reason",
                ),
            ),
        },
        "/api/adapters/{name}": {
            "patch": {
                **op(
                    "Reconfigure (config) and/or enable or disable (enabled) an instance.",
                    "adapters",
                    secure=True,
                    body=adapter_change,
                    responses=_resp(
                        _400="bad request",
                        **_DENIED,
                        _404="no such adapter",
                        _422="bad setting: field: reason",
                    ),
                ),
                "parameters": name_param,
            },
            "delete": {
                **op(
                    "Stop and remove an instance.",
                    "adapters",
                    secure=True,
                    responses=_resp(**_DENIED, _404="no such adapter"),
                ),
                "parameters": name_param,
            },
        },
        "/api/live": {
            "get": op(
                "Server-sent events: the console state now, after every notice and every second.",
                "console",
                responses={
                    "200": {"description": "text/event-stream"},
                    "401": {"description": "not logged in"},
                },
            )
        },
        "/api/openapi.json": {"get": op("This document.", "docs")},
        "/api/docs": {"get": op("This document as a page.", "docs", responses=html_ok)},
        "/console": {
            "get": op(
                "The operator console (the login form, 401, without a session).", "console", responses=html_ok
            )
        },
        "/console/login": {
            "post": {
                **op(
                    "Log in with the operator token (form or JSON {token}): sets an "
                    "HttpOnly SameSite=Strict session cookie.",
                    "console",
                ),
                "requestBody": {
                    "content": {
                        "application/json": {"schema": {"type": "object", "properties": {"token": _STR}}},
                        "application/x-www-form-urlencoded": {
                            "schema": {"type": "object", "properties": {"token": _STR}}
                        },
                    }
                },
                "responses": {
                    "200": _OK,
                    "303": {"description": "to /console"},
                    "401": {"description": "wrong token"},
                },
            }
        },
        "/console/logout": {"post": op("End the console session.", "console")},
        "/console/session": {"get": op("The session's CSRF token (401 without a session).", "console")},
        "/metrics": {
            "get": op(
                "Prometheus text format: decisions, ties, timeouts, false starts, rejects, "
                "latency histograms, podiums, clock bounds, adapter drops.",
                "metrics",
                responses={"200": {"description": "text/plain; version=0.0.4"}},
            )
        },
    }


def spec(routes: list[BaseRoute]) -> dict[str, Any]:
    paths = {**_ops(), **_command_paths()}
    documented = set(paths)
    for route in routes:  # anything mounted without an entry above is still listed
        if isinstance(route, Mount):
            p = route.path + "/{path}"
            paths.setdefault(
                p,
                {
                    "get": {
                        "summary": f"Static files under {route.path}/.",
                        "tags": ["static"],
                        "parameters": [{"name": "path", "in": "path", "required": True, "schema": _STR}],
                        "responses": {
                            "200": {"description": "a file"},
                            "404": {"description": "no such file"},
                        },
                    }
                },
            )
        elif (
            isinstance(route, Route)
            and route.path not in documented
            and not route.path.startswith("/api/cmd/")
        ):
            doc = inspect.getdoc(route.endpoint) or route.name
            params = [
                {"name": p.split(":")[0], "in": "path", "required": True, "schema": _STR}
                for p in re.findall(r"{([^}]+)}", route.path)
            ]
            path = re.sub(r"{([^}:]+)(:[^}]*)?}", r"{\1}", route.path)
            paths.setdefault(path, {}).update(
                {
                    m.lower(): {"summary": doc.split("\n")[0], "tags": ["other"], "responses": _resp()}
                    | ({"parameters": params} if params else {})
                    for m in sorted(route.methods or {"GET"})
                    if m != "HEAD"
                }
            )
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Buzzline host API",
            "version": __version__,
            "description": "Operator commands, game state, adapters, console and metrics. Commands "
            "need the operator token (Authorization: Bearer TOKEN) or a console "
            "session with its CSRF token (X-CSRF-Token).",
        },
        "paths": dict(sorted(paths.items())),
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "the operator token"},
                "session": {"type": "apiKey", "in": "cookie", "name": "buzzline_session"},
                "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            }
        },
    }


def docs_page(doc: dict[str, Any]) -> str:
    """The spec as one plain page: every endpoint, then every command with its arguments."""
    e = html.escape
    rows = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if not isinstance(op, dict) or "responses" not in op:
                continue
            codes = ", ".join(f"{c} {v.get('description', '')}" for c, v in op["responses"].items())
            lock = ' <span class="tag">operator</span>' if op.get("security") else ""
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
            args = ""
            if body and body.get("properties"):
                req = set(body.get("required", []))
                args = ", ".join(
                    f"{k}{'' if k in req else '?'}: {v.get('type', 'any')}"
                    for k, v in body["properties"].items()
                )
            rows.append(
                f"<tr><td><code>{e(method.upper())} {e(path)}</code>{lock}</td>"
                f"<td>{e(op.get('description') or op.get('summary', ''))}</td><td><code>{e(args)}</code></td>"
                f"<td>{e(codes)}</td></tr>"
            )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8><title>Buzzline API</title>"
        '<link rel=stylesheet href="/console/static/console.css"></head><body class=docs>'
        f"<h1>Buzzline host API {e(doc['info']['version'])}</h1><p>{e(doc['info']['description'])} "
        "<span class=tag>operator</span> marks what needs the operator. "
        'Machine-readable: <a href="/api/openapi.json">/api/openapi.json</a>. '
        'Console: <a href="/console">/console</a>.</p>'
        "<table><thead><tr><th>endpoint</th><th>what</th><th>arguments</th><th>answers</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></body></html>"
    )
