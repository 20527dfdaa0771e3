"""The adapter API: everything an adapter may import from Buzzline, and nothing else.

An adapter is a class with a ``KIND``, a ``CONFIG_SCHEMA`` and an async lifecycle, registered
under the entry-point group ``buzzline.adapters`` (the built-in ones too). The same class runs
inside the host (``[[adapters]]`` in the show file, or hot-plugged through the operator API) and
anywhere on the studio network (``buzzline adapter run KIND``); only its ``AdapterContext``
differs, so adapter code never knows which.

Lifecycle, driven by the runner (``buzzline.adapters.runner``):

    start(ctx, config) ──▶ run(): for each notice, await handle(notice) ──▶ stop()
                              ▲            │ raises
                              └─ restart ◀─┘ (status ``error``, jittered backoff, capped)
    reconfigure(config): default stop() + start(); override to apply settings in place.

A notice is what the host emits after each batch of effects is durable: a sequence number,
the host time, the events of that batch (plain dicts, the same shape as the wire's ``event``
messages) and the view viewers see. Each adapter has its own bounded queue that drops the
oldest notice when full (counted), and the newest notice always carries the latest view, so a
slow adapter loses history, never the present state, and never slows a decision.
"""

from __future__ import annotations

import difflib
import logging
import math
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Protocol

from buzzline.core.contract import EVENT_FIELDS, GameView, PodiumView, as_view, podium_view, podiums_of
from buzzline.notices import CommandResult, Notice

__all__ = [
    "EVENT_FIELDS",
    "Adapter",
    "AdapterContext",
    "CommandResult",
    "ConfigError",
    "Field",
    "GameView",
    "Notice",
    "PodiumView",
    "Problem",
    "Status",
    "as_view",
    "did_you_mean",
    "podium_view",
    "podiums_of",
    "validate_config",
]


class Status(StrEnum):
    """The closed set of states an adapter reports (shown in the console and /api/adapters)."""

    OK = "ok"
    CONNECTING = "connecting"
    DISCONNECTED = "disconnected"
    BAD_CONFIG = "bad_config"
    ERROR = "error"


# ---- notices -------------------------------------------------------------------------------------

# A notice's events are plain mappings, ``event["k"]`` their kind; ``EVENT_FIELDS`` (kind -> its
# fields, from ``buzzline.core.contract``, the table SPEC §3.9 is checked against) says what each
# carries. Ignore kinds you do not know: a newer host may add some.


# ---- configuration schema ------------------------------------------------------------------------


def did_you_mean(word: str, options: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the option closest to a misspelt ``word``, else ``""``."""
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


_TYPES = ("str", "int", "float", "bool", "choice", "list", "table")


class ConfigError(ValueError):
    """A setting is wrong: ``field: reason``."""

    def __init__(self, field_name: str, reason: str) -> None:
        super().__init__(f"{field_name}: {reason}")
        self.field = field_name
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Field:
    """One setting: ``type`` in str, int, float, bool, choice, list (of str), table (a mapping)."""

    name: str
    type: str
    default: Any = None
    help: str = ""
    required: bool = False
    min: float | None = None
    max: float | None = None
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in _TYPES:
            raise ValueError(f"field {self.name}: type must be one of {', '.join(_TYPES)}")
        if self.type == "choice" and not self.choices:
            raise ValueError(f"field {self.name}: a choice needs choices")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.type, "help": self.help}
        if self.required:
            out["required"] = True
        else:
            out["default"] = self.default
        if self.min is not None:
            out["min"] = self.min
        if self.max is not None:
            out["max"] = self.max
        if self.choices:
            out["choices"] = list(self.choices)
        return out

    def check(self, value: Any) -> Any:
        """The value converted to this field's type, or ConfigError."""
        t = self.type
        if t == "bool":
            if not isinstance(value, bool):
                raise ConfigError(self.name, f"expected true or false, got {value!r}")
            return value
        if t == "int" or t == "float":
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigError(self.name, f"expected a number, got {value!r}")
            if t == "int":
                if isinstance(value, float) and not value.is_integer():
                    raise ConfigError(self.name, f"expected a whole number, got {value!r}")
                value = int(value)
            elif not math.isfinite(value):
                raise ConfigError(self.name, "must be a finite number")
            else:
                value = float(value)
            if self.min is not None and value < self.min:
                raise ConfigError(self.name, f"{value} is below the minimum {self.min:g}")
            if self.max is not None and value > self.max:
                raise ConfigError(self.name, f"{value} is above the maximum {self.max:g}")
            return value
        if t == "str" or t == "choice":
            if not isinstance(value, str):
                raise ConfigError(self.name, f"expected text, got {value!r}")
            if t == "choice" and value not in self.choices:
                raise ConfigError(
                    self.name,
                    f"{value!r} is not one of {', '.join(self.choices)}{did_you_mean(value, self.choices)}",
                )
            return value
        if t == "list":
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                raise ConfigError(self.name, f"expected a list of text, got {value!r}")
            return list(value)
        if not isinstance(value, Mapping):
            raise ConfigError(self.name, f"expected a table, got {value!r}")
        return dict(value)


def validate_config(schema: Sequence[Field], raw: Mapping[str, Any]) -> dict[str, Any]:
    """Check ``raw`` against ``schema``: defaults filled in, unknown keys refused."""
    known = {f.name: f for f in schema}
    for key in raw:
        if key not in known:
            hint = did_you_mean(str(key), list(known)) or f" (known: {', '.join(known) or 'none'})"
            raise ConfigError(str(key), f"unknown setting{hint}")
    out: dict[str, Any] = {}
    for f in schema:
        if f.name in raw:
            out[f.name] = f.check(raw[f.name])
        elif f.required:
            raise ConfigError(f.name, "required")
        else:
            out[f.name] = f.default
    return out


# ---- the context an adapter is given --------------------------------------------------------------


class AdapterContext(Protocol):
    """What the runner hands an adapter; the same shape in the host and standalone."""

    name: str  # the instance name (``[[adapters]] name``)
    kind: str
    log: logging.Logger

    def notices(self) -> AsyncIterator[Notice]:
        """This instance's own bounded notice stream (the default ``run`` drains it)."""
        ...

    def view(self) -> GameView:
        """The current game view (what ``game/state`` carries)."""
        ...

    async def command(self, name: str, /, **args: Any) -> CommandResult:
        """An operator command through the same interface the HTTP API uses."""
        ...

    def set_status(self, status: Status, message: str = "") -> None: ...


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing the pre-show check (``buzzline check``) found: ``level`` is ``error`` (the show
    would go wrong: a refused setting, a peer that is not there) or ``warning``."""

    level: str
    what: str
    hint: str = ""


class Adapter:
    """Base class for adapters. Subclasses set ``KIND`` and ``CONFIG_SCHEMA`` and override
    ``start``/``handle``/``stop`` (all async: a handler that blocks the loop is logged by the
    runner's watchdog)."""

    KIND: ClassVar[str] = ""
    TITLE: ClassVar[str] = ""
    CONFIG_SCHEMA: ClassVar[tuple[Field, ...]] = ()

    ctx: AdapterContext
    config: dict[str, Any]

    def __init__(self) -> None:
        self.config = {}

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        """Open what the adapter needs; set status ``ok`` (or ``connecting``) when ready."""
        self.ctx = ctx
        self.config = config
        ctx.set_status(Status.OK)

    async def run(self) -> None:
        """Consume notices until cancelled. The default hands each to ``handle`` in order."""
        async for notice in self.ctx.notices():
            await self.handle(notice)

    async def handle(self, notice: Notice) -> None:
        """React to one notice."""

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """Apply new settings (already validated). The default restarts the adapter."""
        await self.stop()
        await self.start(self.ctx, config)

    async def stop(self) -> None:
        """Release everything ``start`` opened. Called once per start, also after a failure."""

    @classmethod
    async def preflight(cls, config: dict[str, Any]) -> list[Problem]:
        """Before the show (``buzzline check``, ``buzzline host`` at start): problems with these
        settings (already validated against ``CONFIG_SCHEMA``) and, where it can be probed, with
        the peer (a serial port missing, a desk that does not answer). Quick (a couple of
        seconds at most), keeps nothing open; the default finds none."""
        return []


@dataclass(slots=True)
class AdapterInfo:
    """A registered kind, for ``buzzline adapters list``."""

    kind: str
    title: str
    source: str  # the distribution (package) that provides it
    schema: tuple[Field, ...] = field(default_factory=tuple)
