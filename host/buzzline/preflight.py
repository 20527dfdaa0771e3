"""The pre-show check: what would go wrong on air, found before it (``buzzline check SHOW.toml``,
and ``buzzline host`` at start). One ``Finding`` per problem, an error or a warning, each told in
one line.

What is checked, each part on its own so a caller takes what it can reach: the show file
(``show_findings``), every adapter's settings with "did you mean" and then its own
``Adapter.preflight`` (each kind probes its peer its own way: a serial port, an OSC desk's ping,
a UDP port a local desk should hold; a kind from another package brings its own checks), the
broker and its accounts (``broker_findings``), and the podiums a running host has heard from:
firmware, declared capture bound, clock trust (``podium_findings``).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buzzline.adapters.api import ConfigError, Problem, validate_config
from buzzline.adapters.runner import AdapterError, load_kind
from buzzline.core.clock import CAPTURE_DEFAULT_US, CAPTURE_UNKNOWN_US
from buzzline.core.show import AdapterSpec, Show
from buzzline.errors import UserError
from buzzline.io.security import BrokerSecrets
from buzzline.showfile import ShowFileError, load_show

PREFLIGHT_TIMEOUT_S = 3.0  # an adapter's own probe that takes longer is itself a finding
FIRMWARE_INIT = Path(__file__).resolve().parents[2] / "firmware" / "podium" / "__init__.py"


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem: ``where`` it is (the show file, an adapter, the broker, a podium), ``what``
    is wrong and, when there is one, what to do (``hint``)."""

    level: str  # "error" or "warning"
    where: str
    what: str
    hint: str = ""
    # the host refuses to start on a blocking error (settings it cannot run as given); not on a
    # peer that may come later (a desk switched on, an interface plugged in) or a card to fix live
    blocking: bool = True

    def line(self) -> str:
        text = f"{self.level}: {self.where}: {self.what}"
        return f"{text} ({self.hint})" if self.hint else text

    def as_dict(self) -> dict[str, str]:
        return {
            "level": self.level,
            "where": self.where,
            "what": self.what,
            "hint": self.hint,
            "line": self.line(),
        }


def errors(findings: list[Finding], blocking_only: bool = False) -> list[Finding]:
    """The errors among ``findings`` (``blocking_only``: those the host refuses to start on)."""
    return [f for f in findings if f.level == "error" and (f.blocking or not blocking_only)]


# ---- the show file -------------------------------------------------------------------------------


def load_checked(path: str | Path) -> tuple[Show | None, list[Finding]]:
    """The show, or None with the one error that stops it loading."""
    try:
        return load_show(path), []
    except ShowFileError as e:
        where = f"show file {e.source}:{e.line}" if e.line else f"show file {e.source}"
        return None, [Finding("error", where, e.reason)]


def show_findings(show: Show, source: str) -> list[Finding]:
    """What loads but would trouble the show: a question card with no answer for the operator."""
    out = []
    for r in show.rounds:
        for i, card in enumerate(r.cards, 1):
            if card.text and not card.answer.strip():
                out.append(
                    Finding(
                        "error",
                        f"show file {source}",
                        f"round {r.name!r} question {i} ({card.text[:40]!r}) has no answer",
                        'add answer = "..." so the operator can judge it',
                        blocking=False,  # the host lists it; the operator may know the answer
                    )
                )
    return out


# ---- adapters ------------------------------------------------------------------------------------


async def adapter_findings(
    specs: tuple[AdapterSpec, ...] | list[AdapterSpec], probe: bool = True
) -> list[Finding]:
    """Each adapter: its kind, its settings, then (``probe``) its own ``preflight``."""
    out: list[Finding] = []
    for spec in specs:
        where = f"adapter {spec.name} ({spec.kind})"
        try:
            cls = load_kind(spec.kind)
            config = validate_config(cls.CONFIG_SCHEMA, spec.settings)
        except AdapterError as e:
            out.append(Finding("error", f"adapter {spec.name}", str(e)))
            continue
        except ConfigError as e:
            out.append(Finding("error", where, str(e), f"docs/adapters/{spec.kind}.md lists every setting"))
            continue
        if not probe:
            continue
        try:
            async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
                problems: list[Problem] = await cls.preflight(config)
        except TimeoutError:
            problems = [Problem("warning", f"its check took over {PREFLIGHT_TIMEOUT_S:g} s")]
        except Exception as e:  # a third-party check that fails is a finding, not a crash
            problems = [Problem("warning", f"its check failed: {type(e).__name__}: {e}")]
        out += [Finding(p.level, where, p.what, p.hint, blocking=False) for p in problems]
    return out


# ---- the broker ----------------------------------------------------------------------------------


async def broker_findings(
    host: str,
    port: int,
    user: str | None,
    password: str | None,
    secrets: BrokerSecrets | None = None,
    show: Show | None = None,
) -> list[Finding]:
    """The broker answers and takes the host's login; with the credentials file, every account
    in it logs in and every podium the show names has one."""
    from buzzline.io.reach import check_broker

    where = f"broker {host}:{port}"
    out: list[Finding] = []
    accounts: list[tuple[str, str | None, str | None]] = [("the host", user, password)]
    if secrets is not None:
        extra = [secrets.viewer, *([secrets.adapter] if secrets.adapter else [])]
        accounts += [(f"account {c.username!r}", c.username, c.password) for c in extra]
        accounts += [(f"podium {p}", c.username, c.password) for p, c in sorted(secrets.podiums.items())]
        named = {pl.podium for pl in show.players if pl.podium} if show is not None else set()
        for pid in sorted(named - set(secrets.podiums)):
            hint = f"add it: buzzline broker config --studio {secrets.studio} --podiums ... --out DIR"
            what = f"podium {pid} (in the show) has no account"
            out.append(Finding("error", where, what, hint, blocking=False))
    for who, u, pw in accounts:
        try:
            await check_broker(host, port, u, pw, timeout=3.0, can_wait=False)
        except UserError as e:
            # the host's own login failing stops it anyway; another account is the show's to fix live
            out.append(Finding("error", where, f"{who}: {e.why}", e.hint, blocking=who == "the host"))
            if not e.why.startswith("refused "):
                break  # not there at all: every other account would say the same
    return out


# ---- podiums a running host has heard from ----------------------------------------------------------


def shipped_firmware() -> str | None:
    """The firmware version this checkout ships (firmware/podium), or None outside a checkout."""
    try:
        m = re.search(r'FW_VERSION\s*=\s*"([^"]+)"', FIRMWARE_INIT.read_text(encoding="utf-8"))
    except OSError:
        return None
    return m.group(1) if m else None


def podium_findings(pods: Sequence[Mapping[str, Any]], show: Show | None = None) -> list[Finding]:
    """From the host's podium registry (``GET /api/state`` ``podiums``): offline show podiums, old
    firmware, no declared capture bound, a clock not yet trusted."""
    out: list[Finding] = []
    fw_now = shipped_firmware()
    seen = {p.get("podium"): p for p in pods}
    for player in show.players if show is not None else ():
        if player.podium and player.podium not in seen:
            out.append(
                Finding("warning", f"podium {player.podium}", f"{player.name}'s podium has not said hello")
            )
    for p in pods:
        where = f"podium {p.get('podium')}"
        if not p.get("online"):
            out.append(Finding("warning", where, "offline", "power it on; it reconnects by itself"))
            continue
        fw = str(p.get("fw") or "")
        real = not str(p.get("hw") or "").startswith("sim-")
        if real and fw_now and fw != fw_now:
            out.append(
                Finding(
                    "warning",
                    where,
                    f"runs firmware {fw or '?'}, this Buzzline ships {fw_now}",
                    "buzzline flash",
                )
            )
        # a host resumed from its log knows the bound a hello gave, not the declaration behind it
        default = CAPTURE_DEFAULT_US.get(str(p.get("board") or ""), CAPTURE_UNKNOWN_US)
        if real and p.get("cap") is None and p.get("capture_us") in (None, default):
            ms = (p.get("capture_us") or 0) / 1000
            out.append(
                Finding(
                    "warning",
                    where,
                    f"declared no capture bound: the host assumes {ms:g} ms for its board",
                    "run the podium's selftest (docs/firmware.md)",
                )
            )
        if not p.get("clock_trusted"):
            err = p.get("clock_err_us")
            bound = f" (±{err / 1000:g} ms)" if isinstance(err, int) else ""
            out.append(
                Finding(
                    "warning",
                    where,
                    f"clock not trusted yet{bound}",
                    "wait a few seconds after it comes online",
                )
            )
    return out


# ---- all of it -------------------------------------------------------------------------------------


async def check_show(
    path: str | Path,
    *,
    probe: bool = True,
    broker: tuple[str, int] | None = None,
    login: tuple[str | None, str | None] = (None, None),
    secrets: BrokerSecrets | None = None,
) -> tuple[Show | None, list[Finding]]:
    """The show file, its adapters and (with ``broker``) the broker's accounts, in that order."""
    show, found = load_checked(path)
    if show is None:
        return None, found
    found += show_findings(show, str(path))
    found += await adapter_findings(show.adapters, probe=probe)
    if broker is not None:
        found += await broker_findings(broker[0], broker[1], login[0], login[1], secrets, show)
    return show, found


class PreflightList:
    """What the host's start-up check found, shown in the console until the operator
    acknowledges it; podium findings join it live (a podium that comes online with old firmware)."""

    def __init__(self, found: list[Finding] | None = None) -> None:
        self.found = list(found or [])
        self.acknowledged: set[str] = set()

    def listed(self, live: list[Finding]) -> list[dict[str, str]]:
        return [f.as_dict() for f in [*self.found, *live] if f.line() not in self.acknowledged]

    def acknowledge(self, live: list[Finding]) -> int:
        lines = {f.line() for f in [*self.found, *live]} - self.acknowledged
        self.acknowledged |= lines
        return len(lines)
