"""Reading back what reached the audio device: SDL's ``disk`` driver writes the PCM it would
play (here 32-bit float, stereo), and these pure functions find the sounds in it and their
pitch. Used by ``bench sound`` and the tests, on machines without a sound card.
"""

from __future__ import annotations

import array
from collections.abc import Sequence

CHANNELS = 2
SILENT = 1e-4  # below this a float sample is silence (a faded edge reaches it within a few samples)


def left_channel(raw: bytes, channels: int = CHANNELS) -> array.array[float]:
    """The first channel of interleaved 32-bit float frames."""
    a = array.array("f")
    a.frombytes(raw[: len(raw) - len(raw) % (4 * channels)])
    return a[::channels]


def first_sound(samples: Sequence[float], start: int = 0) -> int | None:
    """The index of the first non-silent sample at or after ``start``."""
    for i in range(start, len(samples)):
        if abs(samples[i]) > SILENT:
            return i
    return None


def segments(samples: Sequence[float], rate: int, gap_ms: float = 20.0) -> list[tuple[int, int]]:
    """The sounds as ``(start, end)`` sample ranges, split where silence lasts ``gap_ms``."""
    gap = max(1, int(rate * gap_ms / 1000))
    out: list[tuple[int, int]] = []
    start = last = -1
    for i, v in enumerate(samples):
        if abs(v) > SILENT:
            if start < 0:
                start = i
            elif i - last > gap:
                out.append((start, last + 1))
                start = i
            last = i
    if start >= 0:
        out.append((start, last + 1))
    return out


def pitch_hz(samples: Sequence[float], rate: int) -> float:
    """The pitch of a steady tone from its zero crossings (two per period)."""
    crossings = []
    prev = 0.0
    for i, v in enumerate(samples):
        if abs(v) <= SILENT:
            continue
        if prev and (v > 0) != (prev > 0):
            crossings.append(i)
        prev = v
    if len(crossings) < 3:
        return 0.0
    periods = (len(crossings) - 1) / 2
    return rate * periods / (crossings[-1] - crossings[0])
