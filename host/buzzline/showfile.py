"""The TOML show file: read, check and turn into a ``Show``.

A bad show file is refused with ``ShowFileError`` carrying the file, the line and the reason; the
checks name the key (``players[2].team``) and say what was expected.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

from buzzline_protocol.codec import valid_id

from buzzline.core.show import MODES, TIE_RULES, AdapterSpec, Card, Player, Round, Rules, Show, Team

_COLOUR = re.compile(r"^[0-9a-fA-F]{6}$")
_TOML_POS = re.compile(r"\(at line (\d+), column (\d+)\)")


class ShowFileError(ValueError):
    """A show file that cannot be used: ``line`` is 1-based (0 when unknown)."""

    def __init__(self, source: str, line: int, reason: str) -> None:
        super().__init__(f"{source}:{line}: {reason}")
        self.source = source
        self.line = line
        self.reason = reason


def load_show(path: str | Path) -> Show:
    """Read and check a TOML show file; raises ShowFileError (with line and reason) on any problem."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise ShowFileError(str(p), 0, f"cannot read the file: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise ShowFileError(str(p), 0, "the file is not UTF-8 text") from e
    return parse_show(text, str(p))


def parse_show(text: str, source: str = "<show>") -> Show:
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        msg = str(e)
        m = _TOML_POS.search(msg)
        # tomllib reports "(at end of document)" for truncated input: that is the last line
        line = int(m.group(1)) if m else max(1, len(text.splitlines()))
        reason = _TOML_POS.sub("", msg).replace("(at end of document)", "at the end of the file").strip()
        raise ShowFileError(source, line, f"not valid TOML: {reason}") from e
    return _Checker(text, source).show(doc)


class _Checker:
    """Turns the parsed TOML into a Show; every semantic error is located by a line search."""

    def __init__(self, text: str, source: str) -> None:
        self.lines = text.splitlines()
        self.source = source

    def fail(self, path: tuple[str | int, ...], reason: str) -> ShowFileError:
        return ShowFileError(self.source, self.locate(path), reason)

    def locate(self, path: tuple[str | int, ...]) -> int:
        """Best-effort line of ``path`` (e.g. ("players", 2, "podium")): headers, then the key."""
        start, end = 0, len(self.lines)
        line = 0
        i = 0
        while i < len(path):
            seg = path[i]
            if not isinstance(seg, str):
                break
            nxt = path[i + 1] if i + 1 < len(path) else None
            idx = nxt if isinstance(nxt, int) else None
            header = self._find_header(seg, idx, start, end)
            if header is None:
                break
            line, start = header + 1, header + 1
            end = self._section_end(start)
            i += 2 if idx is not None else 1
        if i < len(path) and isinstance(path[-1], str):
            key = path[-1]
            found = self._find_key(key, start, end)
            if found is None:
                found = self._find_key(key, 0, len(self.lines))
            if found is not None:
                return found + 1
        return line

    def _find_header(self, name: str, index: int | None, start: int, end: int) -> int | None:
        if index is None:
            pat = re.compile(r"^\s*\[\s*(?:[\w.\"-]+\.)?" + re.escape(name) + r"\s*\]")
        else:
            pat = re.compile(r"^\s*\[\[\s*(?:[\w.\"-]+\.)?" + re.escape(name) + r"\s*\]\]")
        seen = 0
        for n in range(start, end):
            if pat.match(self.lines[n]):
                if index is None or seen == index:
                    return n
                seen += 1
        # a nested table may be declared after its parent's section ends
        if start > 0:
            return self._find_header(name, index, 0, len(self.lines))
        return None

    def _section_end(self, start: int) -> int:
        for n in range(start, len(self.lines)):
            if self.lines[n].lstrip().startswith("["):
                return n
        return len(self.lines)

    def _find_key(self, key: str, start: int, end: int) -> int | None:
        pat = re.compile(r"^\s*(?:[\w\"-]+\.)*\"?" + re.escape(key) + r"\"?\s*=")
        for n in range(start, end):
            if pat.match(self.lines[n]):
                return n
        return None

    # ---- typed getters ----

    def table(self, doc: dict[str, Any], path: tuple[str | int, ...], allowed: set[str]) -> dict[str, Any]:
        for k in doc:
            if k not in allowed:
                raise self.fail(
                    (*path, k), f"unknown key {k!r} (expected one of: {', '.join(sorted(allowed))})"
                )
        return doc

    def get(self, doc: dict[str, Any], path: tuple[str | int, ...], key: str, typ: type, default: Any) -> Any:
        if key not in doc:
            return default
        v = doc[key]
        # TOML booleans are not integers, whatever Python thinks
        if typ is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise self.fail((*path, key), f"{key} must be an integer, not {_tname(v)}")
        if not isinstance(v, typ):
            raise self.fail((*path, key), f"{key} must be {_tname_of(typ)}, not {_tname(v)}")
        return v

    def ms(self, doc: dict[str, Any], path: tuple[str | int, ...], key: str, default: int, hi: int) -> int:
        v: int = self.get(doc, path, key, int, default)
        if not 0 <= v <= hi:
            raise self.fail((*path, key), f"{key} must be between 0 and {hi} ms, got {v}")
        return v

    def colour(self, doc: dict[str, Any], path: tuple[str | int, ...]) -> str | None:
        c: str | None = self.get(doc, path, "colour", str, None)
        if c is not None and not _COLOUR.match(c):
            raise self.fail((*path, "colour"), f"colour must be six hex digits like 'ff8800', got {c!r}")
        return c.lower() if c else None

    # ---- sections ----

    def show(self, doc: dict[str, Any]) -> Show:
        self.table(doc, (), {"show", "rules", "players", "teams", "rounds", "adapters"})
        head = self.get(doc, (), "show", dict, {})
        self.table(head, ("show",), {"title", "assign_on_hello"})
        title = self.get(head, ("show",), "title", str, "Buzzline show")
        assign_on_hello = self.get(head, ("show",), "assign_on_hello", bool, False)
        rules = self.rules(self.get(doc, (), "rules", dict, {}))
        teams = self.teams(self.get(doc, (), "teams", list, []))
        players = self.players(self.get(doc, (), "players", list, []), teams, rules)
        rounds = self.rounds(self.get(doc, (), "rounds", list, []))
        adapters = self.adapters(self.get(doc, (), "adapters", list, []))
        if not players and not assign_on_hello:
            raise ShowFileError(
                self.source, 1, "the show has no players: add [[players]] or set assign_on_hello = true"
            )
        return Show(title, players, teams, rules, rounds, assign_on_hello, adapters)

    def rules(self, d: dict[str, Any]) -> Rules:
        p: tuple[str | int, ...] = ("rules",)
        self.table(d, p, set(Rules.__dataclass_fields__))
        base = Rules()
        mode = self.get(d, p, "mode", str, base.mode)
        if mode not in MODES:
            raise self.fail((*p, "mode"), f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        tie = self.get(d, p, "tie_rule", str, base.tie_rule)
        if tie not in TIE_RULES:
            raise self.fail((*p, "tie_rule"), f"tie_rule must be one of {', '.join(TIE_RULES)}, got {tie!r}")
        asym = self.get(d, p, "path_asymmetry_pct", int, base.path_asymmetry_pct)
        if asym is not None and not 0 <= asym <= 100:
            raise self.fail((*p, "path_asymmetry_pct"), f"path_asymmetry_pct must be 0..100, got {asym}")
        value = self.get(d, p, "default_value", int, base.default_value)
        if not 0 < value <= 1_000_000:
            raise self.fail((*p, "default_value"), f"default_value must be 1..1000000, got {value}")
        return Rules(
            mode=mode,
            tie_rule=tie,
            false_start_ms=self.ms(d, p, "false_start_ms", base.false_start_ms, 60_000),
            buzz_window_ms=self.ms(d, p, "buzz_window_ms", base.buzz_window_ms, 3_600_000),
            answer_ms=self.ms(d, p, "answer_ms", base.answer_ms, 3_600_000),
            max_wait_ms=self.ms(d, p, "max_wait_ms", base.max_wait_ms, 10_000),
            path_asymmetry_pct=asym,
            negative=self.get(d, p, "negative", bool, base.negative),
            default_value=value,
        )

    def teams(self, items: list[Any]) -> tuple[Team, ...]:
        out: list[Team] = []
        for i, t in enumerate(items):
            p: tuple[str | int, ...] = ("teams", i)
            if not isinstance(t, dict):
                raise self.fail(p, "each [[teams]] entry must be a table")
            self.table(t, p, {"name", "colour"})
            name = self.get(t, p, "name", str, None)
            if not name:
                raise self.fail((*p, "name"), f"team {i + 1} needs a name")
            if any(o.name == name for o in out):
                raise self.fail((*p, "name"), f"team {name!r} is listed twice")
            out.append(Team(name, self.colour(t, p)))
        return tuple(out)

    def players(self, items: list[Any], teams: tuple[Team, ...], rules: Rules) -> tuple[Player, ...]:
        out: list[Player] = []
        team_names = {t.name for t in teams}
        for i, d in enumerate(items):
            p: tuple[str | int, ...] = ("players", i)
            if not isinstance(d, dict):
                raise self.fail(p, "each [[players]] entry must be a table")
            self.table(d, p, {"name", "podium", "team", "colour"})
            name = self.get(d, p, "name", str, None)
            if not name or len(name) > 32:
                raise self.fail((*p, "name"), f"player {i + 1} needs a name of 1 to 32 characters")
            if any(o.name == name for o in out):
                raise self.fail((*p, "name"), f"player {name!r} is listed twice")
            podium = self.get(d, p, "podium", str, None)
            if podium is not None:
                if not valid_id(podium) or podium == "all":
                    raise self.fail(
                        (*p, "podium"), f"podium {podium!r} is not a valid id (a-z, 0-9, _ or -, up to 32)"
                    )
                if any(o.podium == podium for o in out):
                    raise self.fail((*p, "podium"), f"podium {podium!r} is assigned to two players")
            team = self.get(d, p, "team", str, None)
            if team is not None and team not in team_names:
                raise self.fail((*p, "team"), f"team {team!r} is not defined in [[teams]]")
            if rules.mode == "teams" and team is None:
                raise self.fail(p, f"player {name!r} needs a team in teams mode")
            out.append(Player(name, podium, team, self.colour(d, p)))
        return tuple(out)

    def rounds(self, items: list[Any]) -> tuple[Round, ...]:
        out: list[Round] = []
        for i, d in enumerate(items):
            p: tuple[str | int, ...] = ("rounds", i)
            if not isinstance(d, dict):
                raise self.fail(p, "each [[rounds]] entry must be a table")
            self.table(d, p, {"name", "values", "questions"})
            name = self.get(d, p, "name", str, f"Round {i + 1}")
            values = self.get(d, p, "values", list, None)
            if not values:
                raise self.fail((*p, "values"), f"round {name!r} needs a non-empty list of question values")
            for v in values:
                if isinstance(v, bool) or not isinstance(v, int) or not 0 < v <= 1_000_000:
                    raise self.fail((*p, "values"), f"question values must be integers 1..1000000, got {v!r}")
            out.append(Round(name, tuple(values), self.cards(d, p, name, len(values))))
        return tuple(out)

    def cards(self, d: dict[str, Any], p: tuple[str | int, ...], name: str, count: int) -> tuple[Card, ...]:
        """A round's ``questions = [{text = "...", answer = "..."}, ...]``, one per value at most."""
        items = self.get(d, p, "questions", list, [])
        if len(items) > count:
            raise self.fail(
                (*p, "questions"), f"round {name!r} has {count} values but {len(items)} questions"
            )
        out = []
        for q in items:
            if not isinstance(q, dict) or set(q) - {"text", "answer"}:
                raise self.fail((*p, "questions"), 'each question is a table {text = "...", answer = "..."}')
            text, answer = q.get("text", ""), q.get("answer", "")
            if (
                not isinstance(text, str)
                or not isinstance(answer, str)
                or len(text) > 2000
                or len(answer) > 500
            ):
                raise self.fail(
                    (*p, "questions"), "a question's text (up to 2000) and answer (up to 500) are text"
                )
            out.append(Card(text, answer))
        return tuple(out)

    def adapters(self, items: list[Any]) -> tuple[AdapterSpec, ...]:
        out: list[AdapterSpec] = []
        for i, d in enumerate(items):
            p: tuple[str | int, ...] = ("adapters", i)
            if not isinstance(d, dict):
                raise self.fail(p, "each [[adapters]] entry must be a table with name, kind and settings")
            name = self.get(d, p, "name", str, None)
            kind = self.get(d, p, "kind", str, None)
            if not name or len(name) > 64:
                raise self.fail(
                    p if name is None else (*p, "name"), f"adapter {i + 1} needs a name of 1 to 64 characters"
                )
            if not kind:
                raise self.fail(p, f"adapter {name!r} needs a kind (see: buzzline adapters list)")
            if any(o.name == name for o in out):
                raise self.fail((*p, "name"), f"adapter {name!r} is listed twice")
            settings = {k: v for k, v in d.items() if k not in ("name", "kind")}
            out.append(AdapterSpec(name, kind, settings))
        return tuple(out)


def _tname(v: object) -> str:
    if isinstance(v, bool):
        return "a boolean"
    return {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}.get(
        type(v), type(v).__name__
    )


def _tname_of(t: type) -> str:
    return {bool: "true or false", str: "a string", list: "a list", dict: "a table"}.get(t, t.__name__)
