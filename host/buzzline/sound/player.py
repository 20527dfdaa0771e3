"""The audio device and the cues loaded into it (pygame.mixer, SDL_mixer underneath).

The mixer is one per process (SDL has one audio device per program here): ``open_mixer`` and
``close_mixer`` count their users, so a ``sound`` adapter and the viewer can share it. It opens
at start, with a small buffer (512 samples: 11.6 ms at 44.1 kHz), and every cue is decoded and
converted to the device's format when it is loaded, so playing one is a copy into the mix the
audio thread makes next: ``Sound.play`` does not wait for the device.

Mute is process-wide too (the viewer's M key): playing is skipped and what sounds is stopped.
"""

from __future__ import annotations

import io
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

from buzzline.sound import tones
from buzzline.sound.cues import SEAT_NOTES_HZ, Call, CueSpec

CHANNELS = 16  # sounds at once: a ring-in over a false start over the buzzers-open blip
RATE = 44100
BUFFER = 512


class SoundError(RuntimeError):
    """The audio device could not open."""


class SoundFileError(SoundError):
    """A cue's sound could not be decoded: ``where: why``."""

    def __init__(self, where: str, why: str) -> None:
        super().__init__(f"{where}: {why}")
        self.where = where
        self.why = why


_lock = threading.Lock()
_users = 0
_muted = threading.Event()


def _pygame() -> Any:
    import pygame

    return pygame


def open_mixer(rate: int = RATE, buffer: int = BUFFER, device: str = "") -> None:
    """Open the audio device (or count one more user of the open one)."""
    global _users
    pg = _pygame()
    with _lock:
        if _users == 0 or pg.mixer.get_init() is None:
            pg.mixer.pre_init(rate, 32, 2, buffer)
            try:
                pg.mixer.init(rate, 32, 2, buffer, devicename=device or None)
            except pg.error as e:
                raise SoundError(f"the audio device did not open: {e}") from None
            pg.mixer.set_num_channels(CHANNELS)
            _users = 0
        _users += 1


def close_mixer() -> None:
    global _users
    pg = _pygame()
    with _lock:
        _users = max(0, _users - 1)
        if _users == 0 and pg.mixer.get_init() is not None:
            pg.mixer.quit()


def muted() -> bool:
    return _muted.is_set()


def set_muted(on: bool) -> None:
    if on:
        _muted.set()
        pg = _pygame()
        if pg.mixer.get_init() is not None:
            pg.mixer.stop()
    else:
        _muted.clear()


def toggle_mute() -> bool:
    """Mute or unmute every cue of this process; the new state."""
    set_muted(not muted())
    return muted()


def load(source: str | bytes, what: str) -> Any:
    """A ``pygame.mixer.Sound`` from a file path or WAV bytes; SoundFileError naming ``what``."""
    pg = _pygame()
    try:
        return pg.mixer.Sound(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pg.error, OSError) as e:
        name = source if isinstance(source, str) else "the generated tone"
        raise SoundFileError(what, f"cannot decode {name}: {e}") from None


def check_file(path: str) -> str | None:
    """Why ``path`` cannot be played, or None. Decodes it with a mixer of its own (SDL's dummy
    audio driver) when none is open, so a check needs no sound card."""
    pg = _pygame()
    own = pg.mixer.get_init() is None
    saved = os.environ.get("SDL_AUDIODRIVER")
    try:
        if own:
            os.environ["SDL_AUDIODRIVER"] = "dummy"
            pg.mixer.init(RATE, 32, 2, BUFFER)
        load(path, path)
    except SoundFileError as e:
        return e.why
    except pg.error as e:
        return f"{path}: cannot check: {e}"
    finally:
        if own:
            if pg.mixer.get_init() is not None:
                pg.mixer.quit()
            if saved is None:
                os.environ.pop("SDL_AUDIODRIVER", None)
            else:
                os.environ["SDL_AUDIODRIVER"] = saved
    return None


class CueBank:
    """Every enabled cue, preloaded into the open mixer. ``play`` starts one at once."""

    def __init__(self, specs: Mapping[str, CueSpec], volume: float = 1.0) -> None:
        self.specs = dict(specs)
        self.volume = volume
        self.sounds: dict[str, list[Any]] = {}
        self.played = 0
        self.skipped_muted = 0
        self.last_play_ns = 0  # when the last cue was handed to the mixer (the benchmark's split)

    def load(self) -> None:
        """Decode and convert every cue now (SoundFileError naming the cue and file)."""
        for name, spec in self.specs.items():
            if not spec.enabled:
                continue
            what = f"cues.{name}"
            if spec.files:
                sounds = [load(f, f"{what}.files[{i}]") for i, f in enumerate(spec.files)]
            elif spec.file:
                sounds = [load(spec.file, f"{what}.file")]
            elif name == "ringin":  # one pitch per seat (or team)
                pitches = spec.notes or SEAT_NOTES_HZ
                sounds = [load(tones.wav([p], spec.note_ms, spec.wave), what) for p in pitches]
            else:
                sounds = [load(tones.wav(spec.notes, spec.note_ms, spec.wave), what)]
            for s in sounds:
                s.set_volume(spec.volume * self.volume)
            self.sounds[name] = sounds

    def play(self, call: Call) -> bool:
        """Start the cue (False when it is off, or everything is muted)."""
        sounds = self.sounds.get(call.cue)
        if not sounds:
            return False
        if muted():
            self.skipped_muted += 1
            return False
        sound = sounds[(call.variant or 0) % len(sounds)]
        sound.play()
        self.last_play_ns = time.monotonic_ns()
        self.played += 1
        return True

    def duration_s(self, cue: str) -> float:
        sounds = self.sounds.get(cue)
        return float(sounds[0].get_length()) if sounds else 0.0
