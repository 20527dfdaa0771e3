"""The ``osc`` adapter against real receivers: ``oscdump`` over UDP for every preset, and a
python-osc TCP server in another process for SLIP (OSC 1.1) and length-prefix (OSC 1.0) framing,
with the desk's ping answers, a lost connection and the reconnect."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from buzzline.adapters.api import Status
from buzzline.io.broker import free_port

from tests.adapter_kit import Dump, free_udp_ports, host, ok, press, whole_question

PEER = str(Path(__file__).with_name("osc_tcp_peer.py"))

F1, F0 = "1.000000", "0.000000"
# What each preset sends for tests.adapter_kit.whole_question and then `next`, as oscdump
# prints it: (path, OSC type tags, arguments). docs/adapters/osc.md documents the same tables.
EXPECTED: dict[str, list[tuple[str, str, list[str]]]] = {
    "qlcplus": [
        # p3 presses while the question is read: a false start, its flash ends 250 ms later
        ("/buzzline/3/false", "f", [F1]),
        ("/buzzline/3/false", "f", [F0]),
        # armed
        ("/buzzline/armed", "f", [F1]),
        ("/buzzline/open", "f", [F1]),
        # p2 buzzes and answers
        ("/buzzline/armed", "f", [F0]),
        ("/buzzline/open", "f", [F0]),
        ("/buzzline/answering", "f", [F1]),
        ("/buzzline/1/locked", "f", [F1]),
        ("/buzzline/3/locked", "f", [F1]),
        ("/buzzline/2/winner", "f", [F1]),
        # wrong: the question reopens for p1 and p3, p2 is locked out
        ("/buzzline/answering", "f", [F0]),
        ("/buzzline/1/locked", "f", [F0]),
        ("/buzzline/3/locked", "f", [F0]),
        ("/buzzline/2/winner", "f", [F0]),
        ("/buzzline/armed", "f", [F1]),
        ("/buzzline/judged/wrong", "f", [F1]),
        ("/buzzline/open", "f", [F1]),
        ("/buzzline/2/locked", "f", [F1]),
        # p1 buzzes and answers
        ("/buzzline/armed", "f", [F0]),
        ("/buzzline/open", "f", [F0]),
        ("/buzzline/answering", "f", [F1]),
        ("/buzzline/3/locked", "f", [F1]),
        ("/buzzline/1/winner", "f", [F1]),
        # right
        ("/buzzline/answering", "f", [F0]),
        ("/buzzline/judged/wrong", "f", [F0]),
        ("/buzzline/2/locked", "f", [F0]),
        ("/buzzline/3/locked", "f", [F0]),
        ("/buzzline/1/winner", "f", [F0]),
        ("/buzzline/judged/right", "f", [F1]),
        # next question
        ("/buzzline/judged/right", "f", [F0]),
    ],
    "eos": [
        ("/eos/cue/1/2/fire", "", []),
        ("/eos/chan/12", "f", ["100.000000"]),
        ("/eos/chan/12", "f", [F0]),
        ("/eos/cue/1/1/fire", "", []),
        ("/eos/chan/11", "f", ["100.000000"]),
        ("/eos/chan/11", "f", [F0]),
        ("/eos/cue/1/99/fire", "", []),
    ],
    "qlab": [
        ("/cue/buzz-2/start", "", []),
        ("/cue/wrong/start", "", []),
        ("/cue/buzz-1/start", "", []),
        ("/cue/right/start", "", []),
    ],
    "grandma3": [
        ("/gma3/cmd", "s", ['"Go+', "Executor", '202"']),
        ("/gma3/cmd", "s", ['"Go+', "Executor", '201"']),
        ("/gma3/cmd", "s", ['"Go+', "Executor", '200"']),
    ],
    "companion": [
        ("/custom-variable/buzzline_phase/value", "s", ['"reading"']),
        ("/custom-variable/buzzline_phase/value", "s", ['"open"']),
        ("/custom-variable/buzzline_phase/value", "s", ['"answering"']),
        ("/custom-variable/buzzline_winner/value", "s", ['"Player', '2"']),
        ("/custom-variable/buzzline_winner_seat/value", "s", ['"2"']),
        ("/custom-variable/buzzline_phase/value", "s", ['"open"']),
        ("/custom-variable/buzzline_score_2/value", "s", ['"-100"']),
        ("/custom-variable/buzzline_phase/value", "s", ['"answering"']),
        ("/custom-variable/buzzline_winner/value", "s", ['"Player', '1"']),
        ("/custom-variable/buzzline_winner_seat/value", "s", ['"1"']),
        ("/custom-variable/buzzline_phase/value", "s", ['"judged"']),
        ("/custom-variable/buzzline_score_1/value", "s", ['"100"']),
        ("/custom-variable/buzzline_question/value", "s", ['"2"']),
        ("/custom-variable/buzzline_winner/value", "s", ['""']),
        ("/custom-variable/buzzline_phase/value", "s", ['"idle"']),
    ],
}
SETTINGS: dict[str, dict[str, Any]] = {
    "qlcplus": {},
    "eos": {"vars": {"reset_cue": 99, "chan": [11, 12, 13]}},
    "qlab": {"vars": {"passcode": "1234"}},
    "grandma3": {"vars": {"exec": [201, 202, 203], "reset_cmd": "Go+ Executor 200"}},
    "companion": {},
}
PINGS = ("/eos/ping", "/thump")


async def test_every_preset_plays_a_whole_question_over_udp(broker):
    *ports, nobody = free_udp_ports(len(EXPECTED) + 1)
    dumps = {preset: Dump(port) for preset, port in zip(EXPECTED, ports, strict=True)}
    for d in dumps.values():
        await d.__aenter__()
    try:
        async with host(broker) as svc:
            for preset, extra in SETTINGS.items():
                await svc.adapters.add(preset, "osc", {"preset": preset, "port": dumps[preset].port, **extra})
            # a bad mapping rule: listed as bad_config with the reason, the others carry on
            await svc.adapters.add("bad", "osc", {"map": {"x": {"on": "buzz", "path": "/a"}}})
            # without pings, a desk that would answer them is ok once the socket is open
            await svc.adapters.add("eos-quiet", "osc", {"preset": "eos", "ping": False, "port": nobody})
            # each desk first gets the whole state (qlcplus: 9 seat flags, 5 game flags, 9 colours)
            await dumps["qlcplus"].wait(23)
            await dumps["qlab"].wait(1)
            assert dumps["qlab"].lines[0] == ("/connect", "s", ['"1234"'])  # the passcode first
            col = svc.view()["info"]["podiums"]["p2"]["col"]  # seat 2's colour, as rrggbb
            for i, ch in enumerate("rgb"):
                level = int(col[2 * i : 2 * i + 2], 16) / 255
                assert (f"/buzzline/2/{ch}", "f", [f"{round(level, 4):.6f}"]) in dumps["qlcplus"].lines
            before = {p: len(d.lines) for p, d in dumps.items()}

            await whole_question(svc)
            await ok(svc, "next")
            for preset, d in dumps.items():
                async with asyncio.timeout(10):
                    while len([x for x in d.lines[before[preset] :] if x[0] not in PINGS]) < len(
                        EXPECTED[preset]
                    ):
                        await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)  # nothing more may come
            for preset, d in dumps.items():
                got = [x for x in d.lines[before[preset] :] if x[0] not in PINGS]
                assert got == EXPECTED[preset], preset
            snap = {i["name"]: i for i in svc.adapters.snapshot()}
            assert snap["bad"]["status"] == Status.BAD_CONFIG
            assert "map.x: unknown event 'buzz'" in snap["bad"]["message"]
            for preset in ("qlcplus", "grandma3", "companion"):
                assert snap[preset]["status"] == Status.OK
            # Eos and QLab answer pings; these receivers do not, so the link is not called ok
            assert snap["eos"]["status"] == Status.CONNECTING
            assert snap["eos-quiet"]["status"] == Status.OK
            assert any(x[0] == "/eos/ping" for x in dumps["eos"].lines)
    finally:
        for d in dumps.values():
            await d.__aexit__()


class Peer:
    """tests/osc_tcp_peer.py in its own process."""

    def __init__(self, port: int, mode: str) -> None:
        self.port, self.mode = port, mode
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable, PEER, str(self.port), self.mode, stdout=asyncio.subprocess.PIPE
        )
        assert self.proc.stdout is not None
        async with asyncio.timeout(10):
            assert (await self.proc.stdout.readline()).strip() == b"ready"
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode().strip())

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._task is not None:
            await self._task

    def fires(self) -> list[str]:
        return [x for x in self.lines if x.startswith("/eos/cue/")]


async def wait_status(svc: Any, name: str, status: Status, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while svc.adapters.instances[name].status != status:
            await asyncio.sleep(0.02)


async def test_tcp_slip_and_length_prefix_with_ping_status_and_reconnect(broker):
    slip_peer = Peer(free_port(), "1.1")
    length_peer = Peer(free_port(), "1.0")
    await slip_peer.start()
    await length_peer.start()
    try:
        async with host(broker) as svc:
            common = {"preset": "eos", "ping_s": 0.2, "vars": {"reset_cue": 99}}
            await svc.adapters.add("slip", "osc", {**common, "transport": "tcp-slip", "port": slip_peer.port})
            await svc.adapters.add(
                "length", "osc", {**common, "transport": "tcp-length", "port": length_peer.port}
            )
            # ok only once the desk answers its ping (/eos/ping -> /eos/out/ping)
            await wait_status(svc, "slip", Status.OK)
            await wait_status(svc, "length", Status.OK)

            await whole_question(svc)
            want = ["/eos/cue/1/2/fire", "/eos/cue/1/1/fire"]
            for peer in (slip_peer, length_peer):
                async with asyncio.timeout(5):
                    while len(peer.fires()) < 2:
                        await asyncio.sleep(0.01)
                assert peer.fires() == want

            # the desk goes away: disconnected; what happens meanwhile waits (latest per path)
            await slip_peer.stop()
            await wait_status(svc, "slip", Status.DISCONNECTED)
            assert svc.adapters.instances["slip"].message  # says why
            await ok(svc, "next")
            await asyncio.sleep(0.3)
            restarted = Peer(slip_peer.port, "1.1")
            await restarted.start()
            try:
                await wait_status(svc, "slip", Status.OK)
                async with asyncio.timeout(5):
                    while "/eos/cue/1/99/fire" not in restarted.fires():
                        await asyncio.sleep(0.01)
                assert restarted.fires() == ["/eos/cue/1/99/fire"]
            finally:
                await restarted.stop()
            assert "/eos/cue/1/99/fire" in length_peer.fires()
    finally:
        await slip_peer.stop()
        await length_peer.stop()


async def test_the_same_adapter_standalone_from_the_broker(broker, tmp_path):
    """`buzzline adapter run osc` elsewhere on the network: the same messages as in the host."""
    (port,) = free_udp_ports(1)
    cfg = tmp_path / "desk.toml"
    cfg.write_text(f'preset = "qlcplus"\nport = {port}\n')
    where = f"{broker.host}:{broker.port}"
    async with Dump(port) as dump, host(broker, "remote") as svc:
        proc = await asyncio.create_subprocess_exec(
            str(Path(sys.executable).with_name("buzzline")), "adapter", "run", "osc",
            "--broker", where, "--studio", "remote", "--config", str(cfg),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        try:
            await dump.wait(23)  # the whole state first, as in the host
            before = len(dump.lines)
            await whole_question(svc)
            await ok(svc, "next")
            async with asyncio.timeout(10):
                while len(dump.lines) < before + len(EXPECTED["qlcplus"]):
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            assert dump.lines[before:] == EXPECTED["qlcplus"]
        finally:
            proc.terminate()
            await proc.wait()


async def test_a_false_start_light_goes_out_after_its_lockout_with_nothing_else_happening(broker):
    """The flash ends when its lockout does (the show's 250 ms here), not at the next notice."""
    (port,) = free_udp_ports(1)
    async with Dump(port) as dump, host(broker) as svc:
        await svc.adapters.add("desk", "osc", {"preset": "qlcplus", "port": port})
        await dump.wait(23)
        await ok(svc, "read")
        await press(svc, "p3")  # a false start while the question is read; then nothing at all
        async with asyncio.timeout(5):
            while ("/buzzline/3/false", "f", [F1]) not in dump.lines:
                await asyncio.sleep(0.01)
        lit = dump.lines.index(("/buzzline/3/false", "f", [F1]))
        async with asyncio.timeout(3):
            while ("/buzzline/3/false", "f", [F0]) not in dump.lines[lit:]:
                await asyncio.sleep(0.01)
        assert svc.engine.view()["phase"] == "reading"  # nothing else moved the show on
