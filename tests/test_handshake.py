"""The handshake survives restarts (SPEC §12): a host that starts after its podiums, or misses
their hellos, gets them (a podium says hello whenever the host's presence turns online; the host
asks with ``askhello`` when a boot it has no hello for speaks), so presses carry the capture
bound each podium declared, and the host says where every bound comes from. The clock models a
host keeps beside its log are trusted again at once after a restart."""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from buzzline.core.clock import ClockBook, export_book, restore_book
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.gate.bridge import Bridge
from buzzline.gate.ingest import Accepted
from buzzline.host_service import HostService
from buzzline.io.clockstore import ClockStore
from buzzline.sim.podium import VirtualPodium
from buzzline.web.livestate import podiums

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "firmware" / "tools"))

from unixpodium import Bus, UnixPodium, build_tree  # noqa: E402

STUDIO = "hs"
FW_CAP = [180, 420]  # what the firmware podium's selftest stored
SIM_CAP = [30, 60]


def sync(pid: str, boot: int, n: int) -> Accepted:
    return Accepted(pid, "sync", {"t": "sync", "id": pid, "b": boot, "n": n, "t1": 1000 * n})


def asks(out: Any) -> list[str]:
    return [w.topic for w in out.wire if w.msg["t"] == "askhello"]


def test_the_bridge_asks_a_boot_without_hello_once_a_second_until_it_says_it() -> None:
    b = Bridge("s", GameEngine(Show.default([])), 0)
    assert b.capture("p1")[1] == "none"
    assert asks(b.inbound(sync("p1", 7, 1), 0, 0)) == ["buzzline/s/podium/p1/cmd"]
    assert asks(b.inbound(sync("p1", 7, 2), 500_000, 500_000)) == []  # asked a moment ago
    assert asks(b.inbound(sync("p1", 7, 3), 1_000_000, 1_000_000)) == ["buzzline/s/podium/p1/cmd"]
    hello = {"t": "hello", "id": "p1", "b": 7, "seq": 0, "pt": 5, "hw": "x", "board": "esp32", "fw": "1"}
    b.inbound(Accepted("p1", "up", hello), 1_100_000, 1_100_000)
    assert b.capture("p1") == (10_000, "board")  # no cap declared: the board's default
    assert asks(b.inbound(sync("p1", 7, 4), 3_000_000, 3_000_000)) == []
    # a new boot that has said nothing yet is asked again; its declared cap counts once it does
    assert asks(b.inbound(sync("p1", 8, 1), 3_100_000, 3_100_000)) == ["buzzline/s/podium/p1/cmd"]
    b.inbound(Accepted("p1", "up", {**hello, "b": 8, "cap": [40, 90]}), 3_200_000, 3_200_000)
    assert b.capture("p1") == (90, "declared")


def _book() -> ClockBook:
    book = ClockBook()
    rng = random.Random(3)
    m = book.model("p1", 42)
    for i in range(40):
        t1 = 1_000_000 + i * 62_000
        up, down = 300 + rng.randint(0, 400), 300 + rng.randint(0, 400)
        t2 = t1 + 5_000_000 + up
        m.add_sample(t1, t2, t2 + 20, t1 + up + 20 + down)
    assert m.trusted
    return book


def test_clock_models_come_back_as_they_were(tmp_path: Path) -> None:
    book = _book()
    again = ClockBook()
    assert restore_book(again, json.loads(json.dumps(export_book(book)))) == ["p1"]
    old, new = book.model("p1", 42), again.model("p1", 42)  # same boot: the restored model
    # the restored model is the old one as its next periodic refit (skew, then minima) makes it
    old._refit()
    old._settle(old._samples[-1].x)
    for pt in (1_000_000, 3_000_000, 9_000_000):
        a, b = old.map(pt), new.map(pt)
        assert abs(a.host_us - b.host_us) <= 1 and abs(a.err_us - b.err_us) <= 1 and a.trusted == b.trusted
    assert new.trusted and new.samples == old.samples
    assert again.model("p1", 43).samples == 0  # another boot of the podium starts over
    # a restarted host's bridge with the restored models: the podium's first sync (no new sample
    # yet) already shows it trusted, as its presses are mapped with that model
    bridge = Bridge("s", GameEngine(Show.default([])), 0)
    restore_book(bridge.clocks, export_book(book))
    assert not bridge.registry.get("p1").clock_trusted
    bridge.inbound(sync("p1", 42, 9), 0, 0)
    assert bridge.registry.get("p1").clock_trusted
    # the store keeps them for this machine's boot only
    store = ClockStore(tmp_path / "show.db")
    if store.boot is None:
        pytest.skip("no boot id on this system: nothing is restored")
    store.save(store.snapshot(book))
    third = ClockBook()
    assert store.restore(third) == ["p1"] and third.model("p1", 42).trusted
    snap = json.loads(store.path.read_text())
    store.path.write_text(json.dumps({**snap, "boot_id": "another-boot"}))
    assert store.restore(ClockBook()) == []


# ---- real processes ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def fw_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tree(tmp_path_factory.mktemp("fw"))


async def _podiums(fw_tree: Path, tmp_path: Path, port: int) -> tuple[UnixPodium, VirtualPodium]:
    """A firmware podium whose selftest stored a cap, and a simulated one declaring one."""
    state = tmp_path / "fw1"
    state.mkdir()
    (state / "selftest.json").write_text(json.dumps({"cap": FW_CAP, "n": 400, "fw": "0.1.0"}))
    fw = UnixPodium(fw_tree, state, port, pid="fw1", studio=STUDIO)
    await asyncio.to_thread(fw.start)
    sim = VirtualPodium("sim1", "127.0.0.1", port, STUDIO, cap=SIM_CAP)
    await sim.start()
    return fw, sim


async def _declared(svc: HostService, timeout: float = 10.0) -> dict[str, Any]:
    """Until both podiums' capture bounds are declared (a generous wait: no timing asserted)."""
    deadline = time.monotonic() + timeout
    while True:
        cards = {p["podium"]: p["capture"] for p in podiums(svc)}
        if all(cards.get(pid, {}).get("declared") for pid in ("fw1", "sim1")):
            return cards
        if time.monotonic() > deadline:
            raise AssertionError(f"capture bounds not declared: {cards}")
        await asyncio.sleep(0.05)


@pytest.mark.broker
@pytest.mark.micropython
@pytest.mark.timeout(60)
async def test_a_host_started_after_its_podiums_gets_their_declared_bounds(
    broker: Any, fw_tree: Path, tmp_path: Path
) -> None:
    fw, sim = await _podiums(fw_tree, tmp_path, broker.port)
    try:
        await asyncio.to_thread(fw.wait, lambda: fw.state()["up"] == 1, 10, "connected")
        await asyncio.wait_for(sim.link_up.wait(), 10)
        async with HostService(broker.host, broker.port, STUDIO) as svc:
            cards = await _declared(svc)
            assert cards["fw1"]["us"] == FW_CAP[1] and cards["sim1"]["us"] == SIM_CAP[1]
            assert svc.bridge.capture_us("fw1") == FW_CAP[1]
    finally:
        await asyncio.to_thread(fw.stop)
        await sim.stop()


def _second_hello(bus: Bus, pid: str) -> Any:
    """A predicate true once the observer has seen `pid` say hello twice."""
    return lambda t, m: len(bus.find(lambda t2, m2: m2["t"] == "hello" and m2["id"] == pid)) >= 2


@pytest.mark.broker
@pytest.mark.micropython
@pytest.mark.timeout(60)
async def test_a_host_that_missed_the_hellos_asks_for_them(
    broker: Any, fw_tree: Path, tmp_path: Path
) -> None:
    # A stale retained "online" (a broker with persistence keeps the host's last presence): the
    # podiums say hello to no host, and the real host's own "online" is no change to them.
    bus = await asyncio.to_thread(Bus(broker.port, host_studio=STUDIO).connect)
    fw, sim = await _podiums(fw_tree, tmp_path, broker.port)
    try:
        await asyncio.to_thread(bus.wait_for, lambda t, m: m["t"] == "hello" and m["id"] == "fw1", 10)
        await asyncio.to_thread(bus.wait_for, lambda t, m: m["t"] == "hello" and m["id"] == "sim1", 10)
        async with HostService(broker.host, broker.port, STUDIO) as svc:
            await _declared(svc)
            # the observer's copies (it may hear them after the host heard the answers)
            asked = await asyncio.to_thread(
                bus.wait_for,
                lambda t, m: m["t"] == "askhello" and t.endswith("fw1/cmd"),
                10,
                "askhello to fw1",
            )
            assert asked["cs"]
            # Said again, when asked. The host may hear a hello before this observer does: wait
            # for the observer's copy rather than read a snapshot.
            for pid in ("fw1", "sim1"):
                await asyncio.to_thread(bus.wait_for, _second_hello(bus, pid), 10, f"{pid}'s second hello")
    finally:
        await asyncio.to_thread(fw.stop)
        await sim.stop()
        await asyncio.to_thread(bus.close)
