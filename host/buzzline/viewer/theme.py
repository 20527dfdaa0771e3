"""Viewer themes: colours, fonts, logo, layout density and sounds, from a TOML file over a clean
default.

A theme file sets only what it changes; every other value comes from ``DEFAULT``. Paths (fonts,
logo, sound files) are relative to the theme file. A mistake names the file and the key and stops the viewer
before it opens a window: ``ThemeError("theme.toml: colors.accent: expected rrggbb, got 'red'")``.

    [colors]                      # six hex digits, with or without '#'
    background = "0e1116"
    accent = "ffd400"
    [fonts]
    regular = "fonts/MyFont-Regular.ttf"
    bold = "fonts/MyFont-Bold.ttf"
    [logo]
    path = "logo.png"
    [layout]
    density = "comfortable"       # or "compact": smaller margins, more room for names
    show_order = true             # the ring-in order strip
    [sounds.right]                # a sound set: the sound adapter's cue settings (docs/viewer.md)
    file = "sounds/right.ogg"
    [sounds.ringin]
    files = ["sounds/seat1.wav", "sounds/seat2.wav"]
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RGB = tuple[int, int, int]

DEFAULT_COLORS: dict[str, str] = {
    "background": "0e1116",  # the screen behind everything
    "panel": "1b2029",  # a podium panel's body
    "text": "f4f6fa",
    "muted": "8a93a3",  # secondary text: seats, labels
    "accent": "ffd400",  # the winner's ring, the round title
    "false_start": "e5383b",
    "offline": "4a505c",
    "banner": "c62828",  # the lost-broker / host-gone banner
    "timer_buzz": "2ecc71",  # the buzz window draining
    "timer_answer": "ff9f1c",  # the answer time draining
    "tie": "5dade2",
}
DENSITIES = ("comfortable", "compact")


class ThemeError(ValueError):
    """A theme file is unreadable or has a bad value: the message names the file and key."""


def parse_colour(text: Any) -> RGB:
    """``"rrggbb"`` or ``"#rrggbb"`` to an (r, g, b) tuple; ValueError otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected rrggbb, got {text!r}")
    s = text[1:] if text.startswith("#") else text
    if len(s) != 6 or any(c not in "0123456789abcdefABCDEF" for c in s):
        raise ValueError(f"expected rrggbb, got {text!r}")
    return int(s[0:2], 16), int(s[2:4], 16), int(s[4:6], 16)


def hex_colour(c: RGB) -> str:
    return f"{c[0]:02x}{c[1]:02x}{c[2]:02x}"


@dataclass(frozen=True)
class Theme:
    colors: dict[str, RGB] = field(
        default_factory=lambda: {k: parse_colour(v) for k, v in DEFAULT_COLORS.items()}
    )
    font_regular: str | None = None  # None: the font bundled with pygame
    font_bold: str | None = None
    logo: str | None = None
    density: str = "comfortable"
    show_order: bool = True
    # the sound adapter's ``cues`` setting: {cue: {key: value}}, file paths made absolute
    sounds: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "default"

    def colour(self, name: str) -> RGB:
        return self.colors[name]

    def css_vars(self) -> dict[str, str]:
        """The colours as CSS custom properties (the overlay uses the same theme)."""
        return {f"--{k.replace('_', '-')}": "#" + hex_colour(v) for k, v in self.colors.items()}


DEFAULT = Theme()


def _path(base: Path, value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise ThemeError(f"{where}: expected a file path, got {value!r}")
    p = Path(os.path.expanduser(value))
    if not p.is_absolute():
        p = base / p
    if not p.is_file():
        raise ThemeError(f"{where}: no such file {p}")
    return str(p)


def load_theme(path: str | Path) -> Theme:
    """The theme in ``path`` over the default; ThemeError with file and key on any mistake."""
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise ThemeError(f"{p}: cannot read: {e.strerror}") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ThemeError(f"{p}: not TOML: {e}") from e
    return theme_from_dict(raw, p.parent, str(p))


def theme_from_dict(raw: dict[str, Any], base: Path, name: str) -> Theme:
    known = {"colors", "fonts", "logo", "layout", "sounds"}
    for key in raw:
        if key not in known:
            raise ThemeError(f"{name}: unknown section [{key}] (known: {', '.join(sorted(known))})")
    colors = dict(DEFAULT.colors)
    for key, value in _table(raw, "colors", name).items():
        if key not in DEFAULT_COLORS:
            raise ThemeError(f"{name}: colors.{key}: unknown colour (known: {', '.join(DEFAULT_COLORS)})")
        try:
            colors[key] = parse_colour(value)
        except ValueError as e:
            raise ThemeError(f"{name}: colors.{key}: {e}") from None
    fonts = _table(raw, "fonts", name)
    for key in fonts:
        if key not in ("regular", "bold"):
            raise ThemeError(f"{name}: fonts.{key}: unknown font (known: regular, bold)")
    regular = _path(base, fonts["regular"], f"{name}: fonts.regular") if "regular" in fonts else None
    bold = _path(base, fonts["bold"], f"{name}: fonts.bold") if "bold" in fonts else regular
    logo_t = _table(raw, "logo", name)
    _known(logo_t, ("path",), "logo", name)
    logo = _path(base, logo_t["path"], f"{name}: logo.path") if "path" in logo_t else None
    layout = _table(raw, "layout", name)
    _known(layout, ("density", "show_order"), "layout", name)
    density = layout.get("density", DEFAULT.density)
    if density not in DENSITIES:
        raise ThemeError(f"{name}: layout.density: expected one of {', '.join(DENSITIES)}, got {density!r}")
    show_order = layout.get("show_order", True)
    if not isinstance(show_order, bool):
        raise ThemeError(f"{name}: layout.show_order: expected true or false, got {show_order!r}")
    sounds = _sounds(_table(raw, "sounds", name), base, name)
    return dataclasses.replace(
        DEFAULT,
        sounds=sounds,
        colors=colors,
        font_regular=regular,
        font_bold=bold,
        logo=logo,
        density=density,
        show_order=show_order,
        source=name,
    )


def _sounds(raw: dict[str, Any], base: Path, name: str) -> dict[str, dict[str, Any]]:
    """The sound set with its file paths resolved against the theme's folder (checked here)."""
    from buzzline.sound.cues import CueConfigError, parse_cues

    try:
        specs = parse_cues(raw, base, where="sounds")
    except CueConfigError as e:
        raise ThemeError(f"{name}: {e}") from None
    out: dict[str, dict[str, Any]] = {}
    for cue, table in raw.items():
        resolved = dict(table)
        if "file" in table:
            resolved["file"] = specs[cue].file
        if "files" in table:
            resolved["files"] = list(specs[cue].files)
        out[cue] = resolved
    return out


def _table(raw: dict[str, Any], key: str, name: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise ThemeError(f"{name}: [{key}] must be a table")
    return value


def _known(table: dict[str, Any], keys: tuple[str, ...], section: str, name: str) -> None:
    for key in table:
        if key not in keys:
            raise ThemeError(f"{name}: {section}.{key}: unknown setting (known: {', '.join(keys)})")
