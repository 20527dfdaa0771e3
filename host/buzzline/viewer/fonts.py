"""Text for the scoreboard: fonts by size, rendered text and fitted sizes, all cached.

A name is drawn once per size and colour; the size it fits a panel at is computed once per name
and width. Names too long for the smallest size are cut with an ellipsis.
"""

from __future__ import annotations

import collections

import pygame

from buzzline.viewer.theme import RGB, Theme

TEXT_CACHE = 1024


class Fonts:
    """Fonts by (bold, size) and rendered text by (text, bold, size, colour), both cached."""

    def __init__(self, theme: Theme) -> None:
        self.theme = theme
        self._fonts: dict[tuple[bool, int], pygame.font.Font] = {}
        self._text: collections.OrderedDict[tuple[str, bool, int, RGB], pygame.Surface] = (
            collections.OrderedDict()
        )
        self._fit: dict[tuple[str, bool, int, int], tuple[str, int]] = {}
        self.hits = 0
        self.misses = 0

    def font(self, bold: bool, size: int) -> pygame.font.Font:
        key = (bold, max(6, size))
        f = self._fonts.get(key)
        if f is None:
            path = self.theme.font_bold if bold else self.theme.font_regular
            f = pygame.font.Font(path, key[1])
            if bold and path is None:
                f.set_bold(False)  # the bundled font is already bold
            self._fonts[key] = f
        return f

    def text(self, s: str, bold: bool, size: int, colour: RGB) -> pygame.Surface:
        key = (s, bold, size, colour)
        surf = self._text.get(key)
        if surf is not None:
            self.hits += 1
            self._text.move_to_end(key)
            return surf
        self.misses += 1
        surf = self.font(bold, size).render(s, True, colour)
        self._text[key] = surf
        if len(self._text) > TEXT_CACHE:
            self._text.popitem(last=False)
        return surf

    def fit(self, s: str, bold: bool, max_size: int, max_w: int) -> tuple[str, int]:
        """The largest size (down to a third of ``max_size``) at which ``s`` fits ``max_w``; at
        the smallest size the text is cut with an ellipsis."""
        key = (s, bold, max_size, max_w)
        hit = self._fit.get(key)
        if hit is not None:
            return hit
        size = max_size
        floor = max(8, max_size // 3)
        while size > floor and self.font(bold, size).size(s)[0] > max_w:
            size = max(floor, int(size * 0.9))
        out = s
        f = self.font(bold, size)
        while len(out) > 1 and f.size(out)[0] > max_w:
            out = out[:-2] + "…"
        self._fit[key] = (out, size)
        return out, size
