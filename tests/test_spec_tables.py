"""SPEC §3's tables and examples agree with the codec: each kind's fields in wire order, and
every byte-exact example is what ``encode`` produces for it."""

from __future__ import annotations

import re
from pathlib import Path

from buzzline_protocol import codec, topics

SPEC = Path(__file__).resolve().parents[1] / "protocol" / "SPEC.md"
UP_HEADER = {"id", "b", "seq", "pt"}  # §3.1, before every upstream kind's own fields
CMD_HEADER = {"cs"}  # §3.5, before every command's own fields


def section3() -> str:
    text = SPEC.read_text()
    return text[text.index("## 3. Messages") : text.index("## 4. Timing model")]


def kind_rows() -> dict[str, list[str]]:
    """Rows of the per-kind tables (``| `kind` | `field` type ...; `field` ... | meaning |``):
    the fields each row names, in the order it names them."""
    rows: dict[str, list[str]] = {}
    for line in section3().splitlines():
        m = re.match(r"\| `([a-z]+)` \| (.*?) \| ", line)
        if not m or m.group(1) not in codec.KINDS or m.group(1) in rows:
            continue
        cell = m.group(2)
        # each field starts an item: "`name` type ..." after the start or a "; "
        rows[m.group(1)] = re.findall(r"(?:^|; )`([a-z0-9]+)` ", cell)
    return rows


def test_field_order_of_each_kind_table_is_the_wire_order() -> None:
    rows = kind_rows()
    # §3.2 (podium -> host) and §3.5 (commands) list every field of these kinds
    for kind in (
        "hello",
        "hb",
        "buzz",
        "ack",
        "fault",
        "arm",
        "lock",
        "light",
        "ident",
        "selftest",
        "askhello",
    ):
        assert kind in rows, f"SPEC §3 has no table row for {kind}"
        header = UP_HEADER if kind in topics.PODIUM_LEAVES["up"] else CMD_HEADER
        wire = [f[0] for f in codec.KINDS[kind] if f[0] not in header]
        assert rows[kind] == wire, f"SPEC lists {kind} fields {rows[kind]}, the codec sends {wire}"


def test_field_tables_of_presence_sync_config_state_reject_event() -> None:
    # these tables have one row per field: | `field` | type | ...; per kind, in a section of its own
    text = section3()
    for kind, heading in (
        ("presence", "### 3.3"),
        ("config", "### 3.6"),
        ("state", "### 3.7"),
        ("reject", "### 3.8"),
        ("event", "### 3.9"),
    ):
        part = text[text.index(heading) :]
        part = part[: part.index("```")]
        names = re.findall(r"^\| `([a-z0-9]+)` \|", part, re.M)
        wire = [f[0] for f in codec.KINDS[kind]]
        assert names[: len(wire)] == wire, f"SPEC {heading} lists {names}, the codec sends {wire}"


def test_every_example_is_byte_exact() -> None:
    examples = [line for line in section3().splitlines() if line.startswith('{"v":1,')]
    assert len(examples) >= 15
    for line in examples:
        assert codec.encode(codec.decode(line.encode())).decode() == line, line
