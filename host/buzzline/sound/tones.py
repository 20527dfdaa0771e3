"""Tones made in code: a cue's notes as a 16-bit mono WAV in memory. Pure (no pygame): the
mixer converts the WAV to its own format once, when the cue is preloaded.

Waves are band-limited (odd harmonics up to the 7th, under the Nyquist frequency), so a square
sounds like a buzzer rather than a click train, and each wave crosses zero twice per period of
its note: the tests count crossings to check the pitch.
"""

from __future__ import annotations

import array
import io
import math
import sys
import wave
from collections.abc import Sequence

RATE = 44100
EDGE_MS = 5.0  # fade in and out: a note that starts or stops at full level clicks


def _partials(shape: str, freq: float, rate: int) -> list[tuple[float, float]]:
    """(multiple of the note, amplitude) of each harmonic of a wave."""
    if shape == "sine":
        return [(1.0, 1.0)]
    out = []
    for n in (1, 3, 5, 7):
        if n * freq >= rate / 2:
            break
        if shape == "square":
            out.append((float(n), 1.0 / n))
        else:  # triangle
            out.append((float(n), (-1.0 if (n // 2) % 2 else 1.0) / (n * n)))
    return out


def samples(notes: Sequence[float], note_ms: int, shape: str = "sine", rate: int = RATE) -> array.array[int]:
    """The notes one after the other (0 Hz is a rest), each ``note_ms`` long, as 16-bit samples."""
    per_note = max(1, round(rate * note_ms / 1000))
    edge = max(1, round(rate * EDGE_MS / 1000))
    out = array.array("h")
    for freq in notes:
        if freq <= 0:
            out.extend([0] * per_note)
            continue
        parts = _partials(shape, freq, rate)
        peak = sum(abs(a) for _, a in parts)
        step = 2.0 * math.pi * freq / rate
        for i in range(per_note):
            env = min(1.0, i / edge, (per_note - 1 - i) / edge)
            x = sum(a * math.sin(m * step * i) for m, a in parts) / peak
            out.append(int(32000 * env * x))
    return out


def wav(notes: Sequence[float], note_ms: int, shape: str = "sine", rate: int = RATE) -> bytes:
    """The notes as a mono 16-bit WAV file's bytes."""
    pcm = samples(notes, note_ms, shape, rate)
    if sys.byteorder != "little":
        pcm.byteswap()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return buf.getvalue()
