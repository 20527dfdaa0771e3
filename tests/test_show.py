"""Show files: the example loads, and every kind of mistake is refused with its line and reason."""

from __future__ import annotations

from pathlib import Path

import pytest
from buzzline.core.show import AdapterSpec, Show
from buzzline.showfile import ShowFileError, load_show, parse_show

ROOT = Path(__file__).resolve().parent.parent

GOOD = """\
[show]
title = "Friday quiz"

[rules]
mode = "teams"
tie_rule = "random"
false_start_ms = 300
buzz_window_ms = 4000
answer_ms = 6000
negative = false

[[teams]]
name = "red"
colour = "FF0000"

[[teams]]
name = "blue"

[[players]]
name = "Ann"
podium = "p1"
team = "red"

[[players]]
name = "Bob"
team = "blue"

[[rounds]]
name = "Warm-up"
values = [10, 20]

[[rounds]]
name = "Final"
values = [50]

[[adapters]]
name = "desk"
kind = "osc"
port = 9000
"""


def test_good_show_parses_into_the_model() -> None:
    show = parse_show(GOOD)
    assert show.title == "Friday quiz"
    assert show.rules.mode == "teams" and show.rules.tie_rule == "random"
    assert show.rules.false_start_ms == 300 and show.rules.answer_ms == 6000
    assert show.rules.negative is False
    assert [(p.name, p.podium, p.team) for p in show.players] == [("Ann", "p1", "red"), ("Bob", None, "blue")]
    assert show.teams[0].colour == "ff0000"
    assert show.question_count == 3
    q3 = show.question(3)
    assert q3 is not None and (q3.round, q3.value) == ("Final", 50)
    assert show.question(4) is None
    assert show.adapters == (AdapterSpec("desk", "osc", {"port": 9000}),)


def test_example_show_file_loads() -> None:
    show = load_show(ROOT / "docs" / "example-show.toml")
    assert show.players and show.rounds


def test_no_rounds_means_endless_default_questions() -> None:
    show = parse_show('[rules]\ndefault_value = 7\n[[players]]\nname = "A"\n')
    q = show.question(1000)
    assert q is not None and q.value == 7
    assert show.question_count is None


def test_default_show_for_the_demo() -> None:
    show = Show.default(["p1", "p2", "p3"])
    assert [p.podium for p in show.players] == ["p1", "p2", "p3"]
    assert show.assign_on_hello
    teams = Show.default(["a", "b"], mode="teams")
    assert {p.team for p in teams.players} == {"red", "blue"}
    with pytest.raises(ValueError):
        Show.default(["Bad Id"])


def _err(text: str) -> ShowFileError:
    with pytest.raises(ShowFileError) as info:
        parse_show(text, "show.toml")
    return info.value


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        # syntax errors: tomllib's own position
        ('[show]\ntitle = "x\n', 2, "not valid TOML"),
        ("[rules]\nmode = first\n", 2, "not valid TOML"),
        ("[[players]]\nname = [1,\n", 2, "not valid TOML"),
        # semantic errors: the line of the offending key
        ('[rules]\nnegative = true\nmode = "fastest"\n[[players]]\nname="A"\n', 3, "mode must be one of"),
        ('[rules]\ntie_rule = "coin"\n[[players]]\nname="A"\n', 2, "tie_rule"),
        ('[rules]\nanswer_ms = -5\n[[players]]\nname="A"\n', 2, "between 0"),
        ('[rules]\nanswer_ms = "5s"\n[[players]]\nname="A"\n', 2, "must be an integer"),
        ('[rules]\nnegative = 1\n[[players]]\nname="A"\n', 2, "true or false"),
        ('[rules]\nlockout = 5\n[[players]]\nname="A"\n', 2, "unknown key 'lockout'"),
        (
            '[rules]\npath_asymmetry_pct = 150\n[[players]]\nname="A"\n',
            2,
            "path_asymmetry_pct must be 0..100",
        ),
        (
            '[[players]]\nname = "A"\npodium = "p1"\n\n[[players]]\nname = "B"\npodium = "p1"\n',
            7,
            "two players",
        ),
        ('[[players]]\nname = "A"\n[[players]]\nname = "B"\npodium = "P 1"\n', 5, "not a valid id"),
        ('[[players]]\nname = "A"\n\n[[players]]\nname = "A"\n', 5, "listed twice"),
        ('[[players]]\nname = "A"\nteam = "green"\n', 3, "not defined"),
        ('[[players]]\nname = "A"\ncolour = "red"\n', 3, "six hex digits"),
        ('[[players]]\nname = "A"\ncolor = "ff0000"\n', 3, "unknown key 'color'"),
        ('[rules]\nmode = "teams"\n\n[[teams]]\nname = "x"\n\n[[players]]\nname = "A"\n', 7, "needs a team"),
        ('[[players]]\nname = "A"\n[[rounds]]\nname = "R"\nvalues = [100, 0]\n', 5, "question values"),
        ('[[players]]\nname = "A"\n[[rounds]]\nname = "R"\n', 3, "non-empty list"),
        ('[[players]]\nname = "A"\n[adapters]\nosc = 5\n', 3, "must be a list"),
        ('[[players]]\nname = "A"\n[[adapters]]\nname = "x"\n', 3, "needs a kind"),
        ('[[players]]\nname = "A"\n[[adapters]]\nkind = "osc"\n', 3, "needs a name"),
        ('[show]\ntitle = "x"\n', 1, "no players"),
        ('[[players]]\nname = "A"\n[extras]\nx = 1\n', 3, "unknown key 'extras'"),
    ],
)
def test_bad_show_is_refused_with_line_and_reason(text: str, line: int, words: str) -> None:
    e = _err(text)
    assert e.line == line, str(e)
    assert words in e.reason
    assert str(e).startswith(f"show.toml:{line}: ")


def test_path_asymmetry_reaches_the_clock_bounds() -> None:
    from buzzline.core.game import GameEngine
    from buzzline.gate.bridge import Bridge

    show = parse_show('[rules]\npath_asymmetry_pct = 25\n[[players]]\nname="A"\npodium="p1"\n', "s.toml")
    assert show.rules.path_asymmetry_pct == 25
    bridge = Bridge("s", GameEngine(show), 0)
    assert bridge.clocks.model("p1", 1).asymmetry == 0.25
    auto = Bridge("s", GameEngine(Show.default(["p1"])), 0).clocks.model("p1", 1)
    assert auto.asymmetry is None and auto.asymmetry_share() == 0.1  # by the path: none seen yet


def test_missing_file_is_a_show_file_error(tmp_path: Path) -> None:
    with pytest.raises(ShowFileError, match="cannot read"):
        load_show(tmp_path / "nope.toml")
    bad = tmp_path / "bin.toml"
    bad.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ShowFileError, match="UTF-8"):
        load_show(bad)


def test_a_round_lists_its_questions_with_their_answers() -> None:
    show = parse_show(
        "[show]\nassign_on_hello = true\n[[rounds]]\nvalues = [100, 200]\n"
        'questions = [{text = "Q one?", answer = "A one"}]\n'
    )
    q1, q2 = show.question(1), show.question(2)
    assert q1 is not None and (q1.text, q1.answer, q1.value) == ("Q one?", "A one", 100)
    assert q2 is not None and (q2.text, q2.answer, q2.value) == ("", "", 200)
    with pytest.raises(ShowFileError, match="1 values but 2 questions"):
        parse_show(
            '[[rounds]]\nvalues = [1]\nquestions = [{text = "a"}, {text = "b"}]\n'
            "[show]\nassign_on_hello = true\n"
        )
    with pytest.raises(ShowFileError, match="each question is a table"):
        parse_show('[[rounds]]\nvalues = [1]\nquestions = [{txt = "a"}]\n[show]\nassign_on_hello = true\n')
