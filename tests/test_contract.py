"""One table of notice events, and everyone agrees with it: SPEC §3.9's table, the TypedDicts of
``core.contract`` (``EVENT_FIELDS``), the adapter API, and the events a real host emits while a
question is played, judged, undone and refused (real Mosquitto, the host service). The phases:
the game's are one list in the contract, the wire codec and SPEC §3.7, and the arbiter's have
names of their own."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_type_hints

from buzzline.adapters import api
from buzzline.core.contract import (
    ARBITER_PHASES,
    EVENT_FIELDS,
    GAME_PHASES,
    LOCAL_KINDS,
    NoticeEvent,
    event_problems,
)
from buzzline_protocol import viewer

from tests.adapter_kit import PODIUMS, host, ok, whole_question

SPEC = Path(__file__).resolve().parent.parent / "protocol" / "SPEC.md"


def spec_event_table() -> dict[str, tuple[str, ...]]:
    """kind -> the fields SPEC §3.9's table lists for it (names in backticks, before any '(')."""
    text = SPEC.read_text()
    section = text[text.index("### 3.9") : text.index("## 4.")]
    table: dict[str, tuple[str, ...]] = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) != 3 or not cells[0].startswith("`") or cells[0] == "`k`":
            continue
        kinds = re.findall(r"`([a-z_]+)`", cells[0])
        fields = tuple(re.findall(r"`([a-z_]+)`", re.sub(r"\([^)]*\)", "", cells[1])))
        for kind in kinds:
            table[kind] = fields
    return table


def test_spec_3_9_lists_exactly_the_contracts_kinds_and_fields() -> None:
    spec = spec_event_table()
    ours = {k: v for k, v in EVENT_FIELDS.items() if k not in LOCAL_KINDS}
    assert set(spec) == set(ours)
    assert {k: set(v) for k, v in spec.items()} == {k: set(v) for k, v in ours.items()}


def test_the_table_is_derived_from_the_types() -> None:
    kinds = {kind for td in get_args(NoticeEvent) for kind in get_args(get_type_hints(td)["k"])}
    assert kinds | set(LOCAL_KINDS) == set(EVENT_FIELDS)
    assert event_problems({"k": "locked", "ep": 3}) == []
    assert event_problems({"k": "locked", "ep": 3, "leader": "p1"}) == ["locked: unexpected leader"]
    assert event_problems({"k": "armed", "ep": 3}) == ["armed: missing q"]
    assert event_problems({"k": "vote"}) == ["unknown kind 'vote'"]


def test_the_adapter_api_shows_the_same_table_and_no_other() -> None:
    assert api.EVENT_FIELDS is EVENT_FIELDS
    assert not hasattr(api, "EVENT_KINDS")


def test_game_phases_are_one_list_and_the_arbiters_have_their_own_names() -> None:
    assert viewer._PHASES == GAME_PHASES
    spec_row = next(line for line in SPEC.read_text().splitlines() if line.startswith("| `phase` | enum |"))
    assert tuple(re.findall(r"`([a-z]+)`", spec_row.split("|")[3])) == GAME_PHASES
    assert set(ARBITER_PHASES) & set(GAME_PHASES) == set()


async def test_every_event_a_playing_host_emits_fits_the_table(broker: Any) -> None:
    async with host(broker) as svc:
        sub = svc.notices.subscribe("contract", 4096, replay_latest=False)
        await whole_question(svc)  # false start, a wrong answer, a reopen, a right answer
        await ok(
            svc, "adjust", player=svc.view()["info"]["podiums"]["p1"]["player"], delta=50, reason="bonus"
        )
        await ok(svc, "undo")
        await ok(svc, "redo")
        await ok(svc, "next")
        await ok(svc, "unassign", podium=PODIUMS[2])
        await ok(svc, "rename", player=svc.view()["info"]["podiums"]["p2"]["player"], to="Zoë")
        await svc.command("judge", correct=True)  # refused: nobody is answering
        seen: dict[str, int] = {}
        problems: list[str] = []
        while (notice := sub.get_nowait()) is not None:
            for event in notice.events:
                seen[str(event.get("k"))] = seen.get(str(event.get("k")), 0) + 1
                problems += event_problems(event)
        assert problems == []
        played = {"question", "phase", "armed", "locked", "winner", "false_start", "judged", "reopened"}
        played |= {"score", "timer_started", "unassigned", "renamed", "refused"}
        assert played | {"undo", "redo", "command"} <= set(seen), sorted(seen)


def test_the_engines_command_table_is_the_one_list_of_commands() -> None:
    """name -> handler, admission phases, arguments: one table, no handler found by its name."""
    from buzzline.core import events as ev
    from buzzline.core.game import COMMAND_TABLE, GameEngine
    from buzzline.core.show import Show

    assert list(COMMAND_TABLE) == list(ev.COMMAND_ARGS)
    for name, spec in COMMAND_TABLE.items():
        assert spec.args == ev.COMMAND_ARGS[name] and set(spec.phases) <= set(GAME_PHASES)
        assert spec.why_not or set(spec.phases) == set(GAME_PHASES), name
    engine = GameEngine(Show.default(["p1"]))
    assert engine.commands_now() == [n for n, s in COMMAND_TABLE.items() if "idle" in s.phases]
    refused = engine.handle(ev.Command("judge", {}), 1_000)
    assert refused == [ev.CommandRefused("judge", "not possible while idle: nobody is answering")]
