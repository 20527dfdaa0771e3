"""The ``sound`` adapter: cues for ring-in (a tone per seat or team), false start, time's up,
right, wrong, buzzers open and question over, from the host's notices to the audio device.

Tones are made in code (no files to license); any cue can be a WAV or OGG file instead. The mixer
opens and every sound is decoded at start, so a missing or broken file is a ``bad_config`` at
start, never silence at the moment it was due. Playing a cue hands it to the audio thread and
returns: a cue never holds the notice stream, and the notice stream never holds a decision.

    [[adapters]]
    name = "sound"
    kind = "sound"
    volume = 0.8
    ringin_by = "team"                       # one tone per team instead of per seat
    cues.right = { file = "sounds/right.wav" }
    cues.over = { enabled = true }
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from buzzline.adapters.api import Adapter, AdapterContext, ConfigError, Field, Notice, Problem, Status
from buzzline.sound.cues import CueConfigError, CueSpec, calls, parse_cues
from buzzline.sound.player import (
    BUFFER,
    RATE,
    CueBank,
    SoundError,
    SoundFileError,
    check_file,
    close_mixer,
    open_mixer,
    set_muted,
)


def cue_specs(config: dict[str, Any]) -> dict[str, CueSpec]:
    """The cues a validated config asks for (ConfigError on a wrong cue or a missing file)."""
    try:
        return parse_cues(config["cues"])
    except CueConfigError as e:
        raise ConfigError(e.where, e.why) from None


def check_files(specs: dict[str, CueSpec], where: str = "cues") -> tuple[str, str] | None:
    """``(where, why)`` of the first enabled cue file that does not decode, or None."""
    for name, spec in specs.items():
        if not spec.enabled:
            continue
        named = [(f"{where}.{name}.file", spec.file)] if spec.file else []
        named += [(f"{where}.{name}.files[{i}]", f) for i, f in enumerate(spec.files)]
        for at, path in named:
            why = check_file(path)
            if why is not None:
                return at, why
    return None


class SoundAdapter(Adapter):
    """Sound cues (ring-in per seat, false start, time's up, right, wrong) through pygame.mixer."""

    KIND = "sound"
    TITLE = "Sound cues: ring-in per seat, false start, time's up, right, wrong"
    CONFIG_SCHEMA = (
        Field("volume", "float", 1.0, "master volume, 0.0 to 1.0", min=0.0, max=1.0),
        Field(
            "ringin_by", "choice", "seat", "one ring-in tone per seat, or per team", choices=("seat", "team")
        ),
        Field("cues", "table", {}, "per cue: enabled, volume, file, files, notes, note_ms, wave"),
        Field("buffer", "int", BUFFER, "audio buffer in samples (latency: buffer / rate)", min=64, max=8192),
        Field("rate", "int", RATE, "sample rate in Hz", min=8000, max=96000),
        Field("device", "str", "", "audio device name; empty: the system's default"),
        Field("muted", "bool", False, "start muted (the viewer's M key toggles it)"),
    )

    bank: CueBank | None = None
    _opened = False

    @classmethod
    async def preflight(cls, config: dict[str, Any]) -> list[Problem]:
        """The cue settings, every file decoded, and the audio device opened once (and closed)."""
        try:
            specs = cue_specs(config)
        except ConfigError as e:
            return [Problem("error", str(e), "docs/adapters/sound.md lists the cues and settings")]
        problem = await asyncio.to_thread(check_files, specs)
        if problem is not None:
            return [Problem("error", f"{problem[0]}: {problem[1]}", "a WAV or OGG file")]
        try:
            await asyncio.to_thread(open_mixer, config["rate"], config["buffer"], config["device"])
        except SoundError as e:
            hint = "plug in or select a sound device; without one the show goes on silent"
            return [Problem("error", str(e), hint)]
        close_mixer()
        return []

    async def start(self, ctx: AdapterContext, config: dict[str, Any]) -> None:
        self.ctx = ctx
        self.config = config
        specs = cue_specs(config)
        # every file decoded first, so a broken one is named even where no audio device opens
        problem = await asyncio.to_thread(check_files, specs)
        if problem is not None:
            raise ConfigError(*problem)
        bank = CueBank(specs, config["volume"])
        try:
            # opening the device and decoding files take tens of ms: off the event loop
            await asyncio.to_thread(open_mixer, config["rate"], config["buffer"], config["device"])
            self._opened = True
            await asyncio.to_thread(bank.load)
        except SoundFileError as e:  # the settings must change: retrying will not help
            raise ConfigError(e.where, e.why) from None
        if config["muted"]:
            set_muted(True)
        self.bank = bank
        ctx.set_status(Status.OK, f"{sum(1 for s in specs.values() if s.enabled)} cues loaded")

    async def reconfigure(self, config: dict[str, Any]) -> None:
        """New cues and volumes in place; a new rate, buffer or device reopens the device."""
        device = ("rate", "buffer", "device")
        if self.bank is None or any(config[k] != self.config[k] for k in device):
            await super().reconfigure(config)
            return
        specs = cue_specs(config)
        problem = await asyncio.to_thread(check_files, specs)
        if problem is not None:
            raise ConfigError(*problem)
        bank = CueBank(specs, config["volume"])
        await asyncio.to_thread(bank.load)
        if config["muted"] != self.config["muted"]:  # else the M key's choice stands
            set_muted(config["muted"])
        self.bank, self.config = bank, config
        self.ctx.set_status(Status.OK, f"{sum(1 for s in specs.values() if s.enabled)} cues loaded")

    async def handle(self, notice: Notice) -> None:
        bank = self.bank
        if bank is None:
            return
        for call in calls(notice.events, notice.view, self.config["ringin_by"] == "team"):
            bank.play(call)

    async def stop(self) -> None:
        self.bank = None
        if self._opened:
            self._opened = False
            with contextlib.suppress(Exception):
                close_mixer()
