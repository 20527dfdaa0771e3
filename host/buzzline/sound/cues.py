"""Which sound cue a notice calls for, and the cue settings of a show file or theme. Pure: no
pygame here, so ``buzzline check`` and the tests read the same rules the player follows.

Cues, from the notice events of SPEC §3.9:

| cue          | event                                          | variant           |
|--------------|------------------------------------------------|-------------------|
| `open`       | `armed` (buzzers open), alone in its notice    |                   |
| `ringin`     | `winner` (a buzz was decided)                  | the seat, or team |
| `false_start`| `false_start`                                  | the seat          |
| `times_up`   | `timer_expired` (the buzz window or the answer)|                   |
| `right`      | `judged` with `correct` true                   |                   |
| `wrong`      | `judged` with `result` `incorrect`             |                   |
| `over`       | `question_over`                                |                   |

A reopen after a wrong answer arms the buzzers in the same notice as the judgement: `wrong` is
what the room needs to hear, so `open` sounds only when no other cue does in that notice. An
answer that ran out of time is `judged` as `answer_timeout`: its `timer_expired` already
called `times_up`, so `wrong` does not sound on top of it.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CUES = ("open", "ringin", "false_start", "times_up", "right", "wrong", "over")
WAVES = ("sine", "square", "triangle")
CUE_KEYS = ("enabled", "volume", "file", "files", "notes", "note_ms", "wave")

# Ring-in pitches per seat (or team): a major pentatonic run from C5, so any two seats sound
# apart and no two neighbours clash; 16 seats reach A7.
SEAT_NOTES_HZ = (
    523.25, 587.33, 659.25, 783.99, 880.00, 1046.50, 1174.66, 1318.51,
    1567.98, 1760.00, 2093.00, 2349.32, 2637.02, 3135.96, 3520.00, 4186.01,
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class CueSpec:
    """One cue as configured: a file, or tones generated in code (``notes`` in Hz, played in turn)."""

    name: str
    enabled: bool = True
    volume: float = 0.8
    file: str | None = None
    files: tuple[str, ...] = ()  # ringin and false_start: one file per seat (or team), in order
    notes: tuple[float, ...] = ()
    note_ms: int = 150
    wave: str = "sine"


# The built-in sound set: tones made in code, nothing to license.
DEFAULTS: dict[str, CueSpec] = {
    "open": CueSpec("open", volume=0.5, notes=(1318.51,), note_ms=70),
    "ringin": CueSpec("ringin", volume=0.9, notes=(), note_ms=220, wave="square"),  # per seat
    "false_start": CueSpec("false_start", volume=0.8, notes=(196.0,), note_ms=300, wave="square"),
    "times_up": CueSpec("times_up", volume=0.8, notes=(987.77, 0.0, 987.77, 0.0, 987.77), note_ms=90),
    "right": CueSpec("right", volume=0.8, notes=(1046.50, 1567.98), note_ms=130, wave="triangle"),
    "wrong": CueSpec("wrong", volume=0.8, notes=(233.08, 174.61), note_ms=200, wave="square"),
    # off by default: right or time's up already ends most questions audibly
    "over": CueSpec("over", enabled=False, volume=0.6, notes=(783.99, 1046.50), note_ms=200),
}


class CueConfigError(ValueError):
    """A cue setting is wrong: ``where: why``."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


def did_you_mean(word: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def parse_cues(raw: Mapping[str, Any], base: Path | None = None, where: str = "cues") -> dict[str, CueSpec]:
    """Every cue's settings: the defaults, overridden by ``raw`` (``{cue: {key: value}}``).
    Relative file paths are taken from ``base``. Files are checked to exist here; whether they
    decode is the player's check (``buzzline.sound.player.load``)."""
    out = dict(DEFAULTS)
    for name, table in raw.items():
        at = f"{where}.{name}"
        if name not in CUES:
            raise CueConfigError(at, f"unknown cue (known: {', '.join(CUES)}){did_you_mean(name, CUES)}")
        if not isinstance(table, Mapping):
            raise CueConfigError(at, f"expected a table of settings, got {table!r}")
        out[name] = _cue(name, table, out[name], base, at)
    return out


def _cue(name: str, t: Mapping[str, Any], d: CueSpec, base: Path | None, at: str) -> CueSpec:
    for key in t:
        if key not in CUE_KEYS:
            known = ", ".join(CUE_KEYS)
            raise CueConfigError(
                f"{at}.{key}", f"unknown setting (known: {known}){did_you_mean(key, CUE_KEYS)}"
            )
    enabled = t.get("enabled", d.enabled)
    if not isinstance(enabled, bool):
        raise CueConfigError(f"{at}.enabled", f"expected true or false, got {enabled!r}")
    volume = t.get("volume", d.volume)
    if isinstance(volume, bool) or not isinstance(volume, int | float) or not 0.0 <= volume <= 1.0:
        raise CueConfigError(f"{at}.volume", f"expected a number from 0.0 to 1.0, got {volume!r}")
    file = _file(t["file"], base, f"{at}.file") if "file" in t else None
    files: tuple[str, ...] = ()
    if "files" in t:
        if name not in ("ringin", "false_start"):
            raise CueConfigError(f"{at}.files", "only ringin and false_start have one file per seat")
        value = t["files"]
        if not isinstance(value, list) or not value:
            raise CueConfigError(f"{at}.files", f"expected a list of file paths, got {value!r}")
        files = tuple(_file(v, base, f"{at}.files[{i}]") for i, v in enumerate(value))
    notes = d.notes
    if "notes" in t:
        value = t["notes"]
        if not isinstance(value, list) or not all(
            not isinstance(v, bool) and isinstance(v, int | float) and (v == 0 or 20 <= v <= 20000)
            for v in value
        ):
            raise CueConfigError(
                f"{at}.notes", f"expected a list of pitches in Hz (20-20000, 0 a rest), got {value!r}"
            )
        notes = tuple(float(v) for v in value)
    note_ms = t.get("note_ms", d.note_ms)
    if isinstance(note_ms, bool) or not isinstance(note_ms, int) or not 10 <= note_ms <= 5000:
        raise CueConfigError(f"{at}.note_ms", f"expected whole ms from 10 to 5000, got {note_ms!r}")
    wave = t.get("wave", d.wave)
    if wave not in WAVES:
        raise CueConfigError(
            f"{at}.wave", f"expected one of {', '.join(WAVES)}, got {wave!r}{did_you_mean(str(wave), WAVES)}"
        )
    if name != "ringin" and file is None and not files and not notes:
        raise CueConfigError(at, "give a file or notes (or enabled = false)")
    return CueSpec(name, enabled, float(volume), file, files, notes, note_ms, wave)


def _file(value: Any, base: Path | None, at: str) -> str:
    if not isinstance(value, str) or not value:
        raise CueConfigError(at, f"expected a file path, got {value!r}")
    p = Path(os.path.expanduser(value))
    if not p.is_absolute() and base is not None:
        p = base / p
    if not p.is_file():
        raise CueConfigError(at, f"no such file {p}")
    return str(p)


@dataclass(frozen=True, slots=True)
class Call:
    """One cue to play: ``variant`` picks the seat's (or team's) sound, 0-based; None for one sound."""

    cue: str
    variant: int | None = None


def calls(events: Iterable[Mapping[str, Any]], view: Mapping[str, Any], by_team: bool = False) -> list[Call]:
    """The cues one notice's events call for, in the events' order."""
    out: list[Call] = []
    for e in events:
        k = e.get("k")
        if k == "armed":
            out.append(Call("open"))
        elif k == "winner":
            out.append(Call("ringin", _variant(e, view, by_team)))
        elif k == "false_start":
            out.append(Call("false_start", _variant(e, view, False)))
        elif k == "timer_expired":
            out.append(Call("times_up"))
        elif k == "judged":
            if e.get("correct") is True:
                out.append(Call("right"))
            elif e.get("result") == "incorrect":
                out.append(Call("wrong"))
        elif k == "question_over":
            out.append(Call("over"))
    if len(out) > 1:
        out = [c for c in out if c.cue != "open"]
    return out


def _variant(e: Mapping[str, Any], view: Mapping[str, Any], by_team: bool) -> int | None:
    if by_team:
        team = e.get("team")
        if isinstance(team, str):
            podiums = view.get("info", {}).get("podiums", {})
            teams = sorted({p["team"] for p in podiums.values() if isinstance(p.get("team"), str)} | {team})
            return teams.index(team)
        return None
    seat = e.get("seat")
    return seat - 1 if isinstance(seat, int) and seat >= 1 else None
