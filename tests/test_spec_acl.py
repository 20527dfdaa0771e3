"""The ACL `buzzline broker config` writes is exactly the table in protocol/SPEC.md §9."""

from __future__ import annotations

import re
from pathlib import Path

from buzzline.cli import main as cli_main

SPEC = Path(__file__).resolve().parent.parent / "protocol" / "SPEC.md"
STUDIO, PODIUMS = "s1", ("p1", "p2", "host")  # a podium called "host" must not become the host


def spec_table() -> dict[str, dict[str, set[str]]]:
    """{account: {"read": topics, "write": topics}} from §9's table, for STUDIO and PODIUMS."""
    text = SPEC.read_text()
    section = text[text.index("## 9. Security") : text.index("## 10.")]
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \| (.+?) \|$", section, re.M)
    assert {r[0] for r in rows} == {"host", "viewer", "adapter", "podium-ID"}, rows
    out: dict[str, dict[str, set[str]]] = {}
    for account, reads, writes in rows:
        names = [account.replace("ID", p) for p in PODIUMS] if "ID" in account else [account]
        for i, name in enumerate(names):
            pid = PODIUMS[i] if "ID" in account else ""

            def topics(cell: str, pid: str = pid) -> set[str]:
                found = re.findall(r"`([^`]+)`", cell)
                return {f"buzzline/{STUDIO}/{t.replace('ID', pid) if pid else t}" for t in found}

            out[name] = {"read": topics(reads), "write": topics(writes)}
    return out


def acl_file(path: Path) -> dict[str, dict[str, set[str]]]:
    out: dict[str, dict[str, set[str]]] = {}
    user = None
    for line in path.read_text().splitlines():
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        assert words[0] != "pattern", line  # §9: explicit lines only
        if words[0] == "user":
            user = words[1]
            out[user] = {"read": set(), "write": set()}
            continue
        assert words[0] == "topic" and user is not None and len(words) == 3, line
        access, topic = words[1], words[2]
        for a in ("read", "write"):
            if access in (a, "readwrite"):
                out[user][a].add(topic)
    return out


def test_broker_config_acl_is_the_spec_table(tmp_path: Path) -> None:
    rc = cli_main(
        ["broker", "config", "--studio", STUDIO, "--podiums", ",".join(PODIUMS), "--out", str(tmp_path)]
    )
    assert rc == 0
    written = acl_file(tmp_path / "acl")
    expected = spec_table()
    assert set(written) == set(expected)
    for account in expected:
        assert written[account] == expected[account], account
