"""Draw a scene snapshot onto a pygame surface, redrawing only the regions whose content changed.

The screen is cut into regions (top bar, timer, panels, teams, ring-in order, the audience's
column with its QR code); each frame computes
a key per region from the snapshot and redraws a region only when its key differs from the last
frame's, returning the dirty rectangles for ``pygame.display.update``. Text surfaces and the
size a name fits at are cached, so an idle frame costs a few dictionary look-ups.
"""

from __future__ import annotations

import collections
import math
from typing import Any

import pygame
import segno

from buzzline.viewer.fonts import Fonts
from buzzline.viewer.layout import Layout, layout
from buzzline.viewer.scene import RING_MS
from buzzline.viewer.theme import DEFAULT, RGB, Theme, parse_colour

PANEL_CACHE = 128  # drawn panels by content and size: 16 podiums in a few states each
PANEL_FIELDS = (
    "podium",
    "player",
    "seat",
    "col",
    "team",
    "score",
    "online",
    "winner",
    "dimmed",
    "rank",
    "gap_ms",
    "locked_out",
)


def blend(a: RGB, b: RGB, t: float) -> RGB:
    """``a`` moved ``t`` of the way towards ``b``."""
    return (round(a[0] + (b[0] - a[0]) * t), round(a[1] + (b[1] - a[1]) * t), round(a[2] + (b[2] - a[2]) * t))


def readable_on(bg: RGB) -> RGB:
    """Black or white text, whichever reads on ``bg``."""
    lum = 0.2126 * bg[0] + 0.7152 * bg[1] + 0.0722 * bg[2]
    return (16, 16, 16) if lum > 150 else (250, 250, 250)


def colour_of(hexcol: Any) -> RGB:
    try:
        return parse_colour(hexcol)
    except ValueError:
        return (136, 136, 136)


def panel_key(p: dict[str, Any]) -> tuple[Any, ...]:
    """What a panel's pixels depend on (a false start's remaining time does not: on or off)."""
    return (*(p[f] for f in PANEL_FIELDS), p["false_start_ms"] is not None)


_QR: collections.OrderedDict[tuple[str, int], pygame.Surface] = collections.OrderedDict()


def qr_modules(text: str) -> list[list[bool]]:
    """The join link's QR code as rows of dark (True) and light modules, with its quiet zone."""
    qr = segno.make(text, error="m")
    return [[bool(v) for v in row] for row in qr.matrix_iter(scale=1, border=2)]


def qr_surface(text: str, side: int) -> pygame.Surface:
    """The QR code drawn black on white in a ``side`` square (cached: a link changes rarely)."""
    key = (text, side)
    surf = _QR.get(key)
    if surf is None:
        rows = qr_modules(text)
        n = len(rows)
        cell = max(1, side // n)
        surf = pygame.Surface((side, side))
        surf.fill((255, 255, 255))
        off = (side - cell * n) // 2
        for j, row in enumerate(rows):
            for i, dark in enumerate(row):
                if dark:
                    surf.fill((0, 0, 0), (off + i * cell, off + j * cell, cell, cell))
        _QR[key] = surf
        while len(_QR) > 8:
            _QR.popitem(last=False)
    return surf


class Renderer:
    def __init__(self, surface: pygame.Surface, theme: Theme = DEFAULT) -> None:
        self.surface = surface
        self.theme = theme
        self.fonts = Fonts(theme)
        self._keys: dict[str, Any] = {}
        self._size = (0, 0)
        self.layout: Layout | None = None  # the current screen layout (tests read it)
        self.qr_rect: pygame.Rect | None = None  # where the audience's QR code is (tests read it)
        self._panels: collections.OrderedDict[Any, pygame.Surface] = collections.OrderedDict()
        self._logo: pygame.Surface | None = None
        if theme.logo:
            self._logo = pygame.image.load(theme.logo)

    def c(self, name: str) -> RGB:
        return self.theme.colour(name)

    # ---- one frame -------------------------------------------------------------------------------
    def draw(self, snap: dict[str, Any]) -> list[pygame.Rect]:
        """Draw what changed since the last call; the rectangles that need updating."""
        size = self.surface.get_size()
        panels = snap["panels"]
        lay = self.layout
        has_teams = bool(snap["teams"])
        has_audience = snap.get("audience") is not None
        if (
            size != self._size
            or lay is None
            or len(lay.panels) != len(panels)
            or (lay.teams is not None) != has_teams
            or (lay.audience is not None) != has_audience
        ):
            self._size = size
            lay = self.layout = layout(len(panels), size, self.theme, has_teams, has_audience)
            self._keys.clear()
            self.surface.fill(self.c("background"))
            full = True
        else:
            full = False
        dirty: list[pygame.Rect] = []
        regions: list[tuple[str, pygame.Rect | None, Any, Any]] = [
            ("top", lay.top, self._top_key(snap), self._draw_top),
            ("timer", lay.timer, self._timer_key(snap, lay.timer), self._draw_timer),
            (
                "teams",
                lay.teams,
                tuple((t["name"], t["score"], t["col"]) for t in snap["teams"]),
                self._draw_teams,
            ),
            ("order", lay.order, self._order_key(snap), self._draw_order),
            ("audience", lay.audience, repr(snap.get("audience")), self._draw_audience),
        ]
        for name, rect, key, fn in regions:
            if rect is None or self._keys.get(name, ()) == key:
                continue
            self._keys[name] = key
            self.surface.set_clip(rect)  # a region never paints over its neighbours
            self.surface.fill(self.c("background"), rect)
            fn(snap, rect)
            self.surface.set_clip(None)
            dirty.append(rect)
        dirty += self._draw_panels(snap, lay)
        if full:
            return [self.surface.get_rect()]
        return dirty

    # ---- region keys -----------------------------------------------------------------------------
    @staticmethod
    def _top_key(s: dict[str, Any]) -> Any:
        return (s["banner"], s["title"], s["round"], s["q"], s["questions"], s["value"], s["phase_label"])

    @staticmethod
    def _timer_key(s: dict[str, Any], rect: pygame.Rect) -> Any:
        t = s["timer"]
        if t is None:
            return None
        frac = t["left_ms"] / t["total_ms"] if t["total_ms"] else 0.0
        return (t["name"], round(frac * rect.width), math.ceil(t["left_ms"] / 100))

    @staticmethod
    def _order_key(s: dict[str, Any]) -> Any:
        tie = s["tie"]
        return (
            tuple((o["player"], o["col"], o["gap_ms"]) for o in s["order"]),
            None if tie is None else (tuple(tie["players"]), tie["rule"]),
        )

    # ---- regions ---------------------------------------------------------------------------------
    def _blit_mid(self, surf: pygame.Surface, cx: float, cy: float) -> None:
        self.surface.blit(surf, (round(cx - surf.get_width() / 2), round(cy - surf.get_height() / 2)))

    def _draw_top(self, s: dict[str, Any], r: pygame.Rect) -> None:
        h = r.height
        if s["banner"]:
            pygame.draw.rect(self.surface, self.c("banner"), r)
            text, size = self.fonts.fit(s["banner"], True, int(h * 0.5), r.width - 40)
            self._blit_mid(self.fonts.text(text, True, size, (255, 255, 255)), r.centerx, r.centery)
            return
        x = r.x + h // 3
        if self._logo is not None:
            lh = int(h * 0.8)
            lw = max(1, round(self._logo.get_width() * lh / max(1, self._logo.get_height())))
            logo = pygame.transform.smoothscale(self._logo, (lw, lh))
            self.surface.blit(logo, (x, r.y + (h - lh) // 2))
            x += lw + h // 3
        left = s["round"]
        if s["q"]:
            q = f"Q{s['q']}" + (f" / {s['questions']}" if s["questions"] else "")
            if s["value"]:
                q += f"  ·  {s['value']}"
            left = f"{left}   {q}" if left else q
        if left:
            text, size = self.fonts.fit(left, True, int(h * 0.45), r.width // 3 - x)
            surf = self.fonts.text(text, True, size, self.c("text"))
            self.surface.blit(surf, (x, r.centery - surf.get_height() // 2))
        if s["title"]:
            text, size = self.fonts.fit(s["title"], False, int(h * 0.4), r.width // 3)
            self._blit_mid(self.fonts.text(text, False, size, self.c("muted")), r.centerx, r.centery)
        if s["phase_label"]:
            text, size = self.fonts.fit(s["phase_label"], True, int(h * 0.45), r.width // 3)
            surf = self.fonts.text(text, True, size, self.c("accent"))
            self.surface.blit(surf, (r.right - surf.get_width() - h // 3, r.centery - surf.get_height() // 2))

    def _draw_timer(self, s: dict[str, Any], r: pygame.Rect) -> None:
        t = s["timer"]
        if t is None:
            return
        bar = pygame.Rect(r.x, r.y + r.height // 4, r.width - r.height * 3, r.height // 2)
        pygame.draw.rect(self.surface, self.c("panel"), bar, border_radius=bar.height // 2)
        frac = t["left_ms"] / t["total_ms"] if t["total_ms"] else 0.0
        fill = bar.copy()
        fill.width = max(0, round(bar.width * min(1.0, frac)))
        colour = self.c("timer_buzz" if t["name"] == "buzz" else "timer_answer")
        if fill.width:
            pygame.draw.rect(self.surface, colour, fill, border_radius=bar.height // 2)
        label = f"{math.ceil(t['left_ms'] / 100) / 10:.1f} s"
        surf = self.fonts.text(label, True, int(r.height * 1.0), colour)
        self.surface.blit(surf, (bar.right + r.height // 2, r.centery - surf.get_height() // 2))

    def _draw_panels(self, s: dict[str, Any], lay: Layout) -> list[pygame.Rect]:
        """Redraw only the panels whose content changed (while the winner rings in, only its own
        slot: the panel and half the gap around it)."""
        area = lay.panels_area.inflate(lay.gap, lay.gap)
        panels = s["panels"]
        bg = self.c("background")
        if not panels:
            if self._keys.get("panels") == "empty":
                return []
            self._keys["panels"] = "empty"
            self.surface.fill(bg, area)
            msg = self.fonts.text("Waiting for players", True, int(area.height * 0.08), self.c("muted"))
            self._blit_mid(msg, area.centerx, area.centery)
            return [area]
        ring = s["ring_ms"]
        t = 1.0 if ring is None or ring >= RING_MS else ring / RING_MS
        frame = round(ring / 16) if t < 1.0 and ring is not None else -1
        keys = [(panel_key(p), frame if p["winner"] else None) for p in panels]
        old = self._keys.get("panels")
        if isinstance(old, list) and len(old) == len(keys):
            changed = [i for i, k in enumerate(keys) if k != old[i]]
        else:
            changed = list(range(len(keys)))
        self._keys["panels"] = keys
        # the winner last: it grows over the gap around it
        changed.sort(key=lambda i: panels[i]["winner"])
        dirty = []
        for i in changed:
            p, rect = panels[i], lay.panels[i]
            slot = rect.inflate(lay.gap, lay.gap).clip(area)
            self.surface.set_clip(slot)  # a panel never paints over its neighbours
            self.surface.fill(bg, slot)
            if p["winner"]:
                grow = min(rect.width * 0.05, lay.gap * 0.38)
                swell = 1.0 + 0.5 * math.sin(math.pi * t) * (1 - t)  # overshoots, then settles
                g = round(grow * swell)
                if t < 1.0:
                    self.panel(p, rect.inflate(2 * g, 2 * g), ring_t=t)
                else:
                    self._cached_panel(p, rect.inflate(2 * g, 2 * g))
            else:
                self._cached_panel(p, rect)
            self.surface.set_clip(None)
            dirty.append(slot)
        return dirty

    def _cached_panel(self, p: dict[str, Any], r: pygame.Rect) -> None:
        """A panel from the cache, drawn once per content and size (an idle board costs blits)."""
        key = (panel_key(p), r.size)
        surf = self._panels.get(key)
        if surf is None:
            surf = pygame.Surface(r.size, 0, self.surface)  # the screen's format: plain copies
            surf.fill(self.c("background"))
            screen, self.surface = self.surface, surf
            try:
                self.panel(p, pygame.Rect((0, 0), r.size))
            finally:
                self.surface = screen
            self._panels[key] = surf
            if len(self._panels) > PANEL_CACHE:
                self._panels.popitem(last=False)
        else:
            self._panels.move_to_end(key)
        self.surface.blit(surf, r)

    def panel(self, p: dict[str, Any], r: pygame.Rect, ring_t: float = 1.0) -> None:
        """One podium panel in ``r``."""
        bg = self.c("background")
        pc = colour_of(p["col"]) if p["online"] else self.c("offline")
        body = self.c("panel")
        if p["winner"]:
            body = pc
        elif p["dimmed"] or p["locked_out"] or not p["online"]:
            body = blend(body, bg, 0.5)
            pc = blend(pc, bg, 0.6)
        radius = max(4, r.width // 16)
        pygame.draw.rect(self.surface, body, r, border_radius=radius)
        band = pygame.Rect(r.x, r.y, r.width, max(6, round(r.height * 0.13)))
        pygame.draw.rect(
            self.surface, pc, band, border_top_left_radius=radius, border_top_right_radius=radius
        )
        fg = readable_on(body)
        muted = blend(fg, body, 0.45)
        if p["dimmed"] or not p["online"]:
            fg = blend(fg, body, 0.4)
        seat = self.fonts.text(
            str(p["seat"]) if p["seat"] < 999 else "", True, int(band.height * 0.7), readable_on(pc)
        )
        self.surface.blit(seat, (band.x + band.height // 2, band.centery - seat.get_height() // 2))
        inner = r.width - 2 * max(6, r.width // 14)
        name, size = self.fonts.fit(p["player"], True, int(r.height * 0.15), inner)
        self._blit_mid(self.fonts.text(name, True, size, fg), r.centerx, r.y + r.height * 0.27)
        if p["team"]:
            team, tsize = self.fonts.fit(p["team"], False, int(r.height * 0.07), inner)
            self._blit_mid(self.fonts.text(team, False, tsize, muted), r.centerx, r.y + r.height * 0.38)
        score, ssize = self.fonts.fit(str(p["score"]), True, int(r.height * 0.27), inner)
        self._blit_mid(self.fonts.text(score, True, ssize, fg), r.centerx, r.y + r.height * 0.58)
        note = ""
        if not p["online"]:
            note = "OFFLINE"
        elif p["winner"]:
            note = "FIRST"
        elif p["rank"] is not None:
            note = f"#{p['rank']}  +{p['gap_ms']:.1f} ms" if p["gap_ms"] is not None else f"#{p['rank']}"
        elif p["locked_out"]:
            note = "LOCKED OUT"
        if note:
            text, nsize = self.fonts.fit(note, True, int(r.height * 0.075), inner)
            self._blit_mid(
                self.fonts.text(text, True, nsize, muted if not p["winner"] else fg),
                r.centerx,
                r.y + r.height * 0.80,
            )
        if p["false_start_ms"] is not None:
            red = self.c("false_start")
            stripe = pygame.Rect(r.x, r.bottom - round(r.height * 0.2), r.width, round(r.height * 0.2))
            pygame.draw.rect(
                self.surface, red, stripe, border_bottom_left_radius=radius, border_bottom_right_radius=radius
            )
            pygame.draw.rect(self.surface, red, r, width=max(3, r.width // 40), border_radius=radius)
            text, fsize = self.fonts.fit("FALSE START", True, int(stripe.height * 0.55), inner)
            self._blit_mid(
                self.fonts.text(text, True, fsize, readable_on(red)), stripe.centerx, stripe.centery
            )
        if p["winner"]:
            width = max(4, r.width // 30)
            pygame.draw.rect(self.surface, self.c("accent"), r, width=width, border_radius=radius)
            if ring_t < 1.0:  # the ring-in: a halo that spreads and fades
                halo = r.inflate(round(2 * width * ring_t), round(2 * width * ring_t))
                pygame.draw.rect(
                    self.surface,
                    blend(self.c("accent"), bg, ring_t),
                    halo,
                    width=max(2, width // 2),
                    border_radius=radius,
                )

    def _draw_teams(self, s: dict[str, Any], r: pygame.Rect) -> None:
        teams = s["teams"]
        if not teams:
            return
        w = (r.width - (len(teams) - 1) * 12) / len(teams)
        for i, t in enumerate(teams):
            box = pygame.Rect(round(r.x + i * (w + 12)), r.y, round(w), r.height)
            col = colour_of(t["col"])
            pygame.draw.rect(self.surface, blend(col, self.c("background"), 0.55), box, border_radius=8)
            text, size = self.fonts.fit(
                f"{t['name']}  {t['score']}", True, int(r.height * 0.6), box.width - 20
            )
            self._blit_mid(self.fonts.text(text, True, size, self.c("text")), box.centerx, box.centery)

    def _draw_audience(self, s: dict[str, Any], r: pygame.Rect) -> None:
        """The audience's column: PLAY ALONG, the QR code and the code; the question; the
        answers' spread once the results are out; the leaderboard's top."""
        a = s["audience"]
        pygame.draw.rect(self.surface, self.c("panel"), r, border_radius=max(4, r.width // 30))
        pad = max(6, r.width // 16)
        inner = r.width - 2 * pad
        x, y = r.x + pad, r.y + pad
        line = max(12, r.height // 20)
        label = self.fonts.text("PLAY ALONG", True, line, self.c("accent"))
        self.surface.blit(label, (x, y))
        y += label.get_height() + pad // 2
        side = min(inner, r.height * 2 // 5)
        qr = self.qr_rect = pygame.Rect(r.centerx - side // 2, y, side, side)
        if a["join_url"]:
            self.surface.blit(qr_surface(a["join_url"], side), qr)
        y += side + pad // 2
        code, size = self.fonts.fit(a["code"], True, line * 2, inner)
        surf = self.fonts.text(code, True, size, self.c("text"))
        self._blit_mid(surf, r.centerx, y + surf.get_height() / 2)
        y += surf.get_height() + pad // 2
        if a["question"]:
            text, size = self.fonts.fit(a["question"], True, line, inner)
            surf = self.fonts.text(text, True, size, self.c("text"))
            self.surface.blit(surf, (x, y))
            y += surf.get_height() + pad // 3
        for ch in a["choices"]:
            note = f"  {ch['pct']}%" if ch["pct"] is not None else ""
            colour = self.c("accent") if ch["right"] else self.c("text")
            text, size = self.fonts.fit(ch["label"] + note, ch["right"], round(line * 0.8), inner)
            surf = self.fonts.text(text, ch["right"], size, colour)
            self.surface.blit(surf, (x, y))
            y += surf.get_height()
            if ch["pct"] is not None:
                bar = pygame.Rect(x, y, max(1, round(inner * ch["pct"] / 100)), max(3, line // 4))
                pygame.draw.rect(self.surface, colour if ch["right"] else self.c("muted"), bar)
                y += bar.height + 2
        if a["board"]:
            y += pad // 2
            for i, row in enumerate(a["board"]):
                if y + line > r.bottom - pad:
                    break
                nick = f"{i + 1}. {row['nick']}"
                name, size = self.fonts.fit(nick, False, round(line * 0.85), inner * 3 // 4)
                surf = self.fonts.text(name, False, size, self.c("text"))
                self.surface.blit(surf, (x, y))
                pts = self.fonts.text(str(row["points"]), True, size, self.c("text"))
                self.surface.blit(pts, (r.right - pad - pts.get_width(), y))
                y += surf.get_height()

    def _draw_order(self, s: dict[str, Any], r: pygame.Rect) -> None:
        order = s["order"][:8]
        tie = s["tie"]
        line_h = r.height // 2
        y = r.y if tie is not None else r.y + line_h // 2
        if tie is not None:
            text = f"TIE: {' = '.join(tie['players'])}   settled by rule: {tie['rule'] or '?'}"
            t, size = self.fonts.fit(text, True, int(line_h * 0.7), r.width)
            surf = self.fonts.text(t, True, size, self.c("tie"))
            self.surface.blit(surf, (r.x, y + (line_h - surf.get_height()) // 2))
            y += line_h
        if not order:
            return
        items = []
        for i, o in enumerate(order):
            gap = "" if i == 0 else f"  +{o['gap_ms']:.1f} ms"
            items.append((colour_of(o["col"]), f"{i + 1}. {o['player']}{gap}"))
        label = self.fonts.text("RING-IN", True, int(line_h * 0.45), self.c("muted"))
        space = r.width - label.get_width() - line_h
        per = space // len(items)
        self.surface.blit(label, (r.x, y + (line_h - label.get_height()) // 2))
        x = r.x + label.get_width() + line_h // 2
        for col, text in items:
            dot = line_h // 4
            pygame.draw.circle(self.surface, col, (x + dot, y + line_h // 2), dot)
            t, size = self.fonts.fit(text, True, int(line_h * 0.6), per - 3 * dot)
            surf = self.fonts.text(t, True, size, self.c("text"))
            self.surface.blit(surf, (x + 3 * dot, y + (line_h - surf.get_height()) // 2))
            x += per
