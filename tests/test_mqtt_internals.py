"""The private names of aiomqtt and paho that io/mqttclient.py reaches into are all still there,
and the installed versions are the ones pyproject.toml pins exactly: an upgrade that drops one
fails here, loudly and by name, instead of somewhere on the lock path."""

from __future__ import annotations

import asyncio
import re
import tomllib
from importlib.metadata import version
from pathlib import Path

import aiomqtt
import pytest
from buzzline.io import mqttclient
from buzzline.io.broker import MosquittoBroker
from buzzline.io.mqttclient import INTERNALS, DirectWriteClient, MissingInternals, missing_internals

ROOT = Path(__file__).resolve().parent.parent


def pins() -> dict[str, str]:
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    found = {}
    for dep in deps:
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][0-9A-Za-z.]*)", dep)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def test_the_libraries_reached_into_are_pinned_exactly_and_installed_at_that_version() -> None:
    pinned = pins()
    for dist in ("aiomqtt", "paho-mqtt"):
        assert dist in pinned, f"{dist} must be pinned exactly (==) in pyproject.toml"
        assert version(dist) == pinned[dist], f"{dist} {version(dist)} installed, {pinned[dist]} pinned"


async def test_every_internal_name_is_there() -> None:
    client = aiomqtt.Client("127.0.0.1", 1)  # not connected: the names exist from construction
    assert missing_internals(client) == []
    assert sum(len(names) for names in INTERNALS.values()) >= 10


async def test_a_missing_name_fails_the_client_loudly_and_says_which(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(INTERNALS, "paho.mqtt.client.Client", ("_out_packet", "_gone_in_a_later_paho"))
    with pytest.raises(MissingInternals, match=r"paho\.mqtt\.client\.Client\._gone_in_a_later_paho"):
        DirectWriteClient("127.0.0.1", 1)


async def test_no_other_module_touches_the_internals() -> None:
    """Only io/mqttclient.py may name them (tests may, to stage what paho would do)."""
    names = [n for group in INTERNALS.values() for n in group]
    # another object's private name (a module's own ``self._loop`` is its own business)
    pattern = re.compile(r"(?<!\bself)\.(" + "|".join(re.escape(n) for n in names) + r")\b")
    offenders = []
    for path in (ROOT / "host" / "buzzline").rglob("*.py"):
        if path == Path(mqttclient.__file__):
            continue
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code):
                offenders.append(f"{path.relative_to(ROOT)}:{lineno}: {line.strip()}")
    assert offenders == []


async def test_the_door_works_on_a_real_broker(broker: MosquittoBroker) -> None:
    """send_now writes at once, hook_reads hands messages over, wrap_sends sees the bytes."""
    sent: list[int] = []
    async with DirectWriteClient(broker.host, broker.port, identifier="door") as c:
        got: list[tuple[str, bytes]] = []
        await c.subscribe("t/door", qos=1)
        assert c.hook_reads(lambda t, p: got.append((t, p)), lambda: None) == []

        def wrap(inner):  # type: ignore[no-untyped-def]
            def send(buf: bytes | bytearray) -> int:
                sent.append(buf[0] & 0xF0)
                n: int = inner(buf)
                return n

            return send

        c.wrap_sends(wrap)
        info = c.send_now("t/door", b"hi", qos=1)
        assert sent and sent[0] == 0x30  # the PUBLISH left before send_now returned
        await c.confirmed(info)
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got == [("t/door", b"hi")] and c.waiting == 0 and not c.gone
