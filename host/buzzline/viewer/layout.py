"""Where things go on the scoreboard: the screen cut into regions and one slot per podium.

Pure geometry (pygame rectangles, no drawing): one row up to 6 podiums, then rows of at most 8, a
panel no wider than 1.25 times its height, the gaps between panels wide enough for the winner to
grow into without touching a neighbour. With an audience playing along, a column on the right
holds its join code and QR code, the answers' spread and its leaderboard's top.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pygame

from buzzline.viewer.theme import DEFAULT, Theme


@dataclass(frozen=True)
class Layout:
    top: pygame.Rect
    timer: pygame.Rect
    panels_area: pygame.Rect
    panels: tuple[pygame.Rect, ...]
    teams: pygame.Rect | None
    order: pygame.Rect | None
    gap: int
    audience: pygame.Rect | None = None


def grid(n: int) -> tuple[int, int]:
    """Rows and columns for ``n`` panels: one row up to 6, then rows of at most 8."""
    if n <= 0:
        return 0, 0
    rows = 1 if n <= 6 else math.ceil(n / 8)
    return rows, math.ceil(n / rows)


AUDIENCE_SHARE = 0.24  # of the width, for the audience's column


def layout(
    n: int, size: tuple[int, int], theme: Theme = DEFAULT, teams: bool = False, audience: bool = False
) -> Layout:
    w, h = size
    compact = theme.density == "compact"
    margin = round(h * (0.015 if compact else 0.025))
    gap = round(h * (0.014 if compact else 0.022))
    top = pygame.Rect(0, 0, w, round(h * 0.10))
    timer = pygame.Rect(margin, top.bottom, w - 2 * margin, round(h * 0.035))
    bottom = h
    order = None
    if theme.show_order:
        oh = round(h * 0.13)
        order = pygame.Rect(margin, h - oh - margin // 2, w - 2 * margin, oh)
        bottom = order.top
    width = w - 2 * margin  # of the panels and teams
    aud_rect = None
    if audience:
        aw = round(w * AUDIENCE_SHARE)
        width -= aw + gap
        aud_rect = pygame.Rect(margin + width + gap, timer.bottom + gap // 2, aw, bottom - timer.bottom - gap)
    team_rect = None
    if teams:
        th = round(h * 0.07)
        team_rect = pygame.Rect(margin, bottom - th - gap // 2, width, th)
        bottom = team_rect.top
    area = pygame.Rect(margin, timer.bottom + gap // 2, width, bottom - timer.bottom - gap)
    rows, cols = grid(n)
    rects: list[pygame.Rect] = []
    if n:
        cw = (area.width - (cols - 1) * gap) / cols
        ch = (area.height - (rows - 1) * gap) / rows
        pw = min(cw, ch * 1.25)  # two podiums still look like podiums, not banners
        for i in range(n):
            row, col = divmod(i, cols)
            in_row = min(cols, n - row * cols)
            row_w = in_row * pw + (in_row - 1) * gap
            x0 = area.x + (area.width - row_w) / 2
            rects.append(
                pygame.Rect(round(x0 + col * (pw + gap)), round(area.y + row * (ch + gap)), int(pw), int(ch))
            )
    return Layout(top, timer, area, tuple(rects), team_rect, order, gap, aud_rect)
