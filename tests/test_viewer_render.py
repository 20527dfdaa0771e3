"""The pygame scoreboard, drawn headless (SDL's dummy video driver): pixels, not golden images."""

from __future__ import annotations

import itertools
import json
import os
from pathlib import Path
from typing import Any

import pytest

os.environ["SDL_VIDEODRIVER"] = "dummy"

import pygame
from buzzline.cli import main as cli_main
from buzzline.viewer.demo import demo_state
from buzzline.viewer.layout import layout
from buzzline.viewer.render import Renderer, blend
from buzzline.viewer.scene import Scene, state_events
from buzzline.viewer.theme import DEFAULT, ThemeError, load_theme, parse_colour
from buzzline.viewer.window import init_pygame

SIZE = (1920, 1080)
COLOURS = ["ff2020", "20d040", "2080ff", "ffc000", "c040ff", "00c0c0", "ff80c0", "a0a0a0"]


@pytest.fixture(autouse=True, scope="module")
def _pygame() -> Any:
    init_pygame(headless=True)
    yield
    pygame.display.quit()


def view_of(
    n: int, winner: str | None = None, names: dict[str, str] | None = None, **extra: Any
) -> dict[str, Any]:
    podiums = {}
    for i in range(n):
        pid = f"p{i + 1}"
        podiums[pid] = {
            "player": (names or {}).get(pid, f"Player {i + 1}"),
            "online": True,
            "seat": i + 1,
            "col": COLOURS[i % len(COLOURS)]
            if i < len(COLOURS)
            else f"{(i * 37) % 256:02x}{(i * 91) % 256:02x}60",
        }
    view: dict[str, Any] = {
        "phase": "answering" if winner else "open",
        "ep": 1,
        "q": 3,
        "ts": 0,
        "order": [],
        "scores": {p["player"]: 100 * i for i, p in enumerate(podiums.values())},
        "info": {"round": "Round 1", "value": 300, "podiums": podiums, "locked_out": []},
    }
    if winner:
        view["winner"] = winner
        view["info"]["winner_player"] = podiums[winner]["player"]
        view["order"] = [{"podium": winner, "gap_us": 0, "err_us": 200}]
    view.update(extra)
    return view


def draw(scene: Scene, now: float, renderer: Renderer | None = None) -> tuple[Renderer, list[pygame.Rect]]:
    r = renderer or Renderer(pygame.Surface(SIZE), DEFAULT)
    scene.tick(now)
    return r, r.draw(scene.snapshot(now))


def body_point(rect: pygame.Rect) -> tuple[int, int]:
    """A point of a panel's body that no text covers: the left edge, half way down."""
    return rect.x + max(3, rect.width // 30), rect.y + rect.height // 2


def band_point(rect: pygame.Rect) -> tuple[int, int]:
    """A point in a panel's colour band, right of its seat number."""
    return rect.right - rect.width // 5, rect.y + max(3, round(rect.height * 0.13) // 2)


def rgb(surface: pygame.Surface, xy: tuple[int, int]) -> tuple[int, int, int]:
    c = surface.get_at(xy)
    return (c.r, c.g, c.b)


def close(a: tuple[int, int, int], b: tuple[int, int, int], tol: int = 6) -> bool:
    return all(abs(x - y) <= tol for x, y in zip(a, b, strict=True))


def test_the_winners_panel_is_lit_in_its_colour_and_the_others_dimmed() -> None:
    scene = Scene()
    scene.apply_view(view_of(4), 0.0)
    r, _ = draw(scene, 10.0)
    lay = r.layout
    assert lay is not None
    before = [rgb(r.surface, band_point(rect)) for rect in lay.panels]
    for i, c in enumerate(before):  # no winner yet: every band in its own podium colour
        assert close(c, parse_colour(COLOURS[i])), (i, c)

    scene.apply_view(view_of(4, winner="p2"), 20.0)
    r, dirty = draw(scene, 2000.0, r)  # after the ring-in animation
    assert dirty, "a new winner redraws the panels"
    win = lay.panels[1]
    assert close(rgb(r.surface, body_point(win)), parse_colour(COLOURS[1]))
    for i in (0, 2, 3):
        band = rgb(r.surface, band_point(lay.panels[i]))
        assert close(band, blend(parse_colour(COLOURS[i]), DEFAULT.colour("background"), 0.6)), (i, band)
        assert sum(band) < 0.6 * sum(parse_colour(COLOURS[i]))  # visibly darker than undimmed
        assert not close(rgb(r.surface, body_point(lay.panels[i])), parse_colour(COLOURS[i]), 40)


def test_a_false_start_marker_appears_and_goes_after_the_lockout() -> None:
    scene = Scene()
    scene.apply_view(view_of(3), 0.0)
    r, _ = draw(scene, 1.0)
    lay = r.layout
    assert lay is not None
    p3 = lay.panels[2]
    stripe = (p3.centerx - p3.width // 3, p3.bottom - max(3, p3.height // 40))
    red = DEFAULT.colour("false_start")
    assert not close(rgb(r.surface, stripe), red, 30)

    scene.apply_event({"k": "false_start", "podium": "p3", "player": "Player 3", "lockout_ms": 250}, 100.0)
    r, dirty = draw(scene, 110.0, r)
    assert any(d.colliderect(p3) for d in dirty)
    assert close(rgb(r.surface, stripe), red)
    assert not close(rgb(r.surface, (lay.panels[0].centerx, stripe[1])), red, 30)  # only that panel

    r, _ = draw(scene, 300.0, r)  # still locked out at 200 ms of 250
    assert close(rgb(r.surface, stripe), red)
    r, dirty = draw(scene, 360.0, r)  # the lockout is over
    assert any(d.colliderect(p3) for d in dirty)
    assert not close(rgb(r.surface, stripe), red, 30)
    assert scene.false_starts == {}


def test_sixteen_podiums_fit_without_overlap() -> None:
    lay = layout(16, SIZE)
    assert len(lay.panels) == 16
    screen = pygame.Rect((0, 0), SIZE)
    for a, b in itertools.combinations(lay.panels, 2):
        assert not a.colliderect(b), (a, b)
    for p in lay.panels:
        assert lay.panels_area.contains(p), p
        assert screen.contains(p)
        assert not p.colliderect(lay.top) and not p.colliderect(lay.timer)
        assert lay.order is None or not p.colliderect(lay.order)
        assert p.width >= 150 and p.height >= 200  # still readable across a studio
    # and drawn: every panel shows its own colour band where the layout put it
    scene = Scene()
    scene.apply_view(view_of(16), 0.0)
    r, _ = draw(scene, 1.0)
    assert r.layout is not None and r.layout.panels == lay.panels
    snap = scene.snapshot(1.0)
    for p, rect in zip(snap["panels"], lay.panels, strict=True):
        assert close(rgb(r.surface, band_point(rect)), parse_colour(p["col"])), p["podium"]
    # a winner among sixteen grows over the gap, never over a neighbour's band
    scene.apply_view(view_of(16, winner="p6"), 5.0)
    r, _ = draw(scene, 5000.0, r)
    for i in (4, 6):
        assert close(
            rgb(r.surface, band_point(lay.panels[i])),
            blend(parse_colour(snap["panels"][i]["col"]), DEFAULT.colour("background"), 0.6),
        )


def test_a_long_non_ascii_name_renders_inside_its_panel() -> None:
    name = "Zoë Ångström-Łukasiewicz Ñuñez Ø"
    assert len(name) == 32
    scene = Scene()
    scene.apply_view(view_of(16, names={"p1": name}), 0.0)
    r, _ = draw(scene, 1.0)
    lay = r.layout
    assert lay is not None
    inner = lay.panels[0].width - 2 * max(6, lay.panels[0].width // 14)
    text, size = r.fonts.fit(name, True, int(lay.panels[0].height * 0.15), inner)
    assert r.fonts.font(True, size).size(text)[0] <= inner
    assert text.startswith("Zoë")  # the glyphs render: no error, no empty name
    # the name's ink stays inside the first panel: the gap to its neighbour is background
    bg = DEFAULT.colour("background")
    gap_x = (lay.panels[0].right + lay.panels[1].left) // 2
    name_y = lay.panels[0].y + int(lay.panels[0].height * 0.27)
    assert close(rgb(r.surface, (gap_x, name_y)), bg)


def test_the_ring_in_order_shows_gaps_and_a_tie_its_rule() -> None:
    doc = demo_state(6)
    view, events = state_events(doc)
    scene = Scene()
    scene.apply_notice(view, events, 0.0)
    snap = scene.snapshot(10.0)
    assert [round(o["gap_ms"], 1) for o in snap["order"]] == [0.0, 3.2, 11.4, 41.0]
    assert snap["winner"]["player"] == "Ada"
    assert snap["timer"]["name"] == "answer"
    scene.apply_event({"k": "tie", "podiums": ["p1", "p2"], "rule": "random", "winner": "p1"}, 20.0)
    assert scene.snapshot(30.0)["tie"] == {"players": ["Ada", "Björn"], "rule": "random"}
    view2 = dict(view, q=view["q"] + 1, phase="reading")
    view2.pop("winner")
    scene.apply_view(view2, 40.0)
    snap = scene.snapshot(50.0)
    assert snap["tie"] is None and snap["timer"] is None and snap["winner"] is None


def test_an_idle_frame_redraws_nothing() -> None:
    scene = Scene()
    scene.apply_view(view_of(8), 0.0)
    r, dirty = draw(scene, 1.0)
    assert dirty == [pygame.Rect((0, 0), SIZE)]
    _, dirty = draw(scene, 17.0, r)
    assert dirty == []


def test_link_banner_shows_when_the_broker_or_host_is_gone() -> None:
    scene = Scene()
    scene.apply_view(view_of(2), 0.0)
    assert scene.snapshot(1.0)["banner"] is None
    scene.apply_event({"k": "link", "broker": False, "host": True}, 2.0)
    r, _ = draw(scene, 3.0)
    assert r.layout is not None
    assert close(rgb(r.surface, (5, 5)), DEFAULT.colour("banner"))
    scene.apply_event({"k": "link", "broker": True, "host": False}, 4.0)
    assert scene.snapshot(5.0)["banner"] is None  # presence is known a moment after connecting
    assert "host" in str(scene.snapshot(1100.0)["banner"])
    scene.apply_event({"k": "link", "broker": True, "host": True}, 6.0)
    r, _ = draw(scene, 7.0, r)
    assert close(rgb(r.surface, (5, 5)), DEFAULT.colour("background"))


def test_theme_files_over_the_default_and_their_mistakes(tmp_path: Path) -> None:
    good = tmp_path / "t.toml"
    good.write_text('[colors]\naccent = "#00ff00"\n[layout]\ndensity = "compact"\n')
    t = load_theme(good)
    assert t.colour("accent") == (0, 255, 0) and t.density == "compact"
    assert t.colour("background") == DEFAULT.colour("background")
    for text, words in [
        ('[colors]\naccent = "green"\n', "colors.accent"),
        ('[colors]\nsky = "00ff00"\n', "colors.sky"),
        ('[fonts]\nbold = "missing.ttf"\n', "fonts.bold"),
        ('[layout]\ndensity = "huge"\n', "layout.density"),
        ("[sound]\n", "[sound]"),
        ("colors = [", "not TOML"),
    ]:
        bad = tmp_path / "bad.toml"
        bad.write_text(text)
        with pytest.raises(ThemeError, match=words.replace("[", r"\[").replace("]", r"\]")):
            load_theme(bad)


def test_render_command_writes_a_png_and_refuses_bad_input(tmp_path: Path, capsys: Any) -> None:
    state = tmp_path / "state.json"
    assert cli_main(["viewer", "--demo-state", str(state), "--podiums", "4"]) == 0
    out = tmp_path / "frame.png"
    assert cli_main(["viewer", "--render", str(state), "--out", str(out), "--size", "960x540"]) == 0
    img = pygame.image.load(str(out))
    assert img.get_size() == (960, 540)
    doc = json.loads(state.read_text())
    winner = doc["state"]["winner"]
    col = doc["state"]["info"]["podiums"][winner]["col"]
    lay = layout(4, (960, 540))
    seat = doc["state"]["info"]["podiums"][winner]["seat"]
    assert close(rgb(img, body_point(lay.panels[seat - 1])), parse_colour(col))
    capsys.readouterr()
    (tmp_path / "bad.json").write_text('{"phase": 3')
    assert cli_main(["viewer", "--render", str(tmp_path / "bad.json"), "--out", str(out)]) == 2
    assert cli_main(["viewer", "--render", str(state)]) == 2
    assert cli_main(["viewer", "--render", str(state), "--out", str(out), "--size", "big"]) == 2
    (tmp_path / "nostate.json").write_text('{"hello": 1}')
    assert cli_main(["viewer", "--render", str(tmp_path / "nostate.json"), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 4 and all(line.startswith("buzzline viewer: ") for line in err), err
    assert (
        "not JSON" in err[0] and "--out" in err[1] and "WIDTHxHEIGHT" in err[2] and "no game state" in err[3]
    )
