"""The pre-show check: `buzzline check SHOW.toml` as a real process against real files, ports and
brokers; `buzzline host` refusing a misconfigured show (or `--strict`, any problem); the console
listing the findings in Chromium until the operator acknowledges them."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.cli import main as cli_main
from buzzline.core.show import AdapterSpec, Show
from buzzline.host_service import HostService
from buzzline.io.broker import MosquittoBroker, free_port
from buzzline.io.security import broker_extra_config, write_broker_config
from buzzline.preflight import Finding, adapter_findings, podium_findings
from buzzline.web.app import serve_operator_api

from tests.adapter_kit import Dump, free_udp_port

pytestmark = pytest.mark.broker

HEAD = '[show]\ntitle = "x"\n[[players]]\nname = "Ann"\npodium = "p1"\n'


def buzzline(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buzzline.cli", *argv],
        capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )  # fmt: skip


def adapter(name: str, kind: str, **settings: Any) -> str:
    lines = [f'[[adapters]]\nname = "{name}"\nkind = "{kind}"']
    lines += [f"{k} = {v!r}".replace("'", '"') for k, v in settings.items()]
    return "\n".join(lines) + "\n"


# each misconfiguration the issue names: one line, with the "did you mean" where one applies
CASES = [
    (
        adapter("desk", "osc", preset="qlcplu"),
        "error: adapter desk (osc): preset: 'qlcplu' is not one of",
        "did you mean 'qlcplus'?",
    ),
    (
        adapter("desk", "osc", port="7700"),
        "error: adapter desk (osc): port: expected a number, got '7700'",
        "",
    ),
    (adapter("desk", "oscc"), "error: adapter desk: unknown adapter kind 'oscc'", "did you mean 'osc'?"),
    (
        adapter("desk", "osc", prot=7700),
        "error: adapter desk (osc): prot: unknown setting",
        "did you mean 'port'?",
    ),
    (
        adapter("dmx", "dmx-usbpro", port="/dev/ttyUSB97"),
        "error: adapter dmx (dmx-usbpro): no device at /dev/ttyUSB97",
        "",
    ),
    (
        adapter("desk", "osc") + 'map = { x = { on = "buzz", path = "/a" } }\n',
        "error: adapter desk (osc): map.x: unknown event 'buzz'",
        "",
    ),
]


@pytest.mark.parametrize("row", range(len(CASES)))
def test_each_misconfigured_adapter_is_one_line_and_exit_2(tmp_path: Path, capsys: Any, row: int) -> None:
    text, says, suggests = CASES[row]
    show = tmp_path / "show.toml"
    show.write_text(HEAD + text)
    rc = cli_main(["check", str(show), "--no-broker"])  # in this process: the rows are many
    out, err = capsys.readouterr()
    r = subprocess.CompletedProcess([], rc, out, err)
    assert r.returncode == 2, r
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), lines
    assert suggests in lines[0]
    assert "1 error(s)" in r.stderr and "Traceback" not in r.stderr
    assert cli_main(["check", str(tmp_path / "show.toml"), "--no-broker", "--json"]) == 2
    found = json.loads(capsys.readouterr().out)
    assert found["errors"] == 1 and found["findings"][0]["line"] == lines[0]


def test_a_question_without_an_answer_is_one_line_and_exit_2(tmp_path: Path) -> None:
    show = tmp_path / "show.toml"
    cards = '[{ text = "Who?" }, { text = "Why?", answer = "So" }]'
    show.write_text(HEAD + f"[[rounds]]\nvalues = [100, 200]\nquestions = {cards}\n")
    r = buzzline("check", str(show), "--no-broker")
    assert r.returncode == 2, r
    assert r.stdout.splitlines() == [
        "error: show file " + str(show) + ": round 'Round 1' question 1 ('Who?') has no answer "
        '(add answer = "..." so the operator can judge it)'
    ]
    answered = '[{ text = "Who?", answer = "A" }, { text = "Why?", answer = "So" }]'
    show.write_text(HEAD + f"[[rounds]]\nvalues = [100, 200]\nquestions = {answered}\n")
    r = buzzline("check", str(show), "--no-broker")  # every card answered: nothing to say
    assert r.returncode == 0 and r.stdout == "" and "no problems found" in r.stderr, r
    (tmp_path / "bad.toml").write_text("[show\n")
    r = buzzline("check", str(tmp_path / "bad.toml"), "--no-broker")
    assert r.returncode == 2 and r.stdout.startswith("error: show file ") and "not valid TOML" in r.stdout


def test_the_broker_and_every_account_in_the_credentials(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    write_broker_config(creds, "s1", ["p1"])
    b = MosquittoBroker(
        extra_config=broker_extra_config(creds), allow_anonymous=False, workdir=tmp_path / "b"
    )
    (tmp_path / "b").mkdir()
    b.start()
    try:
        show = tmp_path / "show.toml"
        show.write_text(HEAD + '[[players]]\nname = "Bob"\npodium = "p2"\n')
        r = buzzline("check", str(show), "--broker", b.address, "--credentials", str(creds))
        assert r.returncode == 2, r
        assert r.stdout.splitlines() == [
            f"error: broker {b.address}: podium p2 (in the show) has no account "
            "(add it: buzzline broker config --studio s1 --podiums ... --out DIR)"
        ]
        r = buzzline("check", str(show), "--broker", b.address, "--studio", "s1")  # no login at all
        assert r.returncode == 2 and "the host: refused an anonymous client" in r.stdout
        closed = f"127.0.0.1:{free_port()}"
        r = buzzline("check", str(show), "--broker", closed)
        assert r.returncode == 2 and f"error: broker {closed}: the host: connection refused" in r.stdout
    finally:
        b.stop()


async def test_desks_are_probed_where_they_can_be() -> None:
    quiet = free_udp_port()
    found = await adapter_findings(
        [
            AdapterSpec("eos", "osc", {"preset": "eos", "port": quiet}),  # nobody answers its ping
            AdapterSpec("tcp", "osc", {"preset": "eos", "transport": "tcp-slip", "port": free_port()}),
            AdapterSpec("local", "osc", {"preset": "qlcplus", "port": quiet}),
        ]
    )
    assert [(f.level, f.where) for f in found] == [
        ("warning", "adapter eos (osc)"),
        ("error", "adapter tcp (osc)"),
        ("warning", "adapter local (osc)"),
    ]
    assert "no answer to /eos/ping" in found[0].what and "connection refused" in found[1].what.lower()
    async with Dump(quiet):  # a real receiver (oscdump) on the port: the local desk is there
        assert (
            await adapter_findings([AdapterSpec("local", "osc", {"preset": "qlcplus", "port": quiet})]) == []
        )
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    with taken:
        port = taken.getsockname()[1]
        (f,) = await adapter_findings([AdapterSpec("tablet", "osc-control", {"port": port})])
        assert f.level == "error" and f"cannot listen on udp 127.0.0.1:{port}" in f.what


def test_podiums_firmware_capture_bound_and_clock() -> None:
    show = Show.default(["p1", "p2", "p3"])
    pods = [
        {"podium": "p1", "online": True, "hw": "e6614103", "fw": "0.0.9", "cap": [300, 900],
         "clock_trusted": True},
        {"podium": "p2", "online": True, "hw": "e6614104", "board": "esp32", "fw": "0.1.0", "cap": None,
         "capture_us": 10_000, "clock_trusted": False},
        # resumed from the log: the bound a declaration gave, without the declaration: no finding
        {"podium": "p4", "online": True, "hw": "e6614105", "board": "esp32", "fw": "0.1.0", "cap": None,
         "capture_us": 900, "clock_trusted": True},
    ]  # fmt: skip
    lines = [f.line() for f in podium_findings(pods, show)]
    assert lines == [
        "warning: podium p3: Player 3's podium has not said hello",
        "warning: podium p1: runs firmware 0.0.9, this Buzzline ships 0.1.0 (buzzline flash)",
        "warning: podium p2: declared no capture bound: the host assumes 10 ms for its board "
        "(run the podium's selftest (docs/firmware.md))",
        "warning: podium p2: clock not trusted yet (wait a few seconds after it comes online)",
    ]


def test_host_refuses_a_misconfigured_show_unless_told_and_strict_refuses_warnings(tmp_path: Path) -> None:
    show = tmp_path / "show.toml"
    show.write_text(HEAD + adapter("desk", "osc", preset="qlcplu"))
    closed = f"127.0.0.1:{free_port()}"
    r = buzzline("host", "--show", str(show), "--broker", closed)
    assert r.returncode == 2, r
    lines = r.stderr.strip().splitlines()
    assert "did you mean 'qlcplus'?" in lines[0] and lines[0].startswith("buzzline host: error: adapter desk")
    assert lines[1].startswith("buzzline: host: not started: the pre-show check found 1 error")
    # --start-anyway goes on (here to the broker, which is not there)
    r = buzzline("host", "--show", str(show), "--broker", closed, "--start-anyway")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(f"buzzline: broker {closed}")
    # a peer that is not there yet is listed, not refused: the adapter reopens it by itself
    show.write_text(HEAD + adapter("dmx", "dmx-usbpro", port="/dev/ttyUSB97"))
    r = buzzline("host", "--show", str(show), "--broker", closed)
    lines = r.stderr.strip().splitlines()
    assert lines[0] == (
        "buzzline host: error: adapter dmx (dmx-usbpro): no device at /dev/ttyUSB97 "
        "(plug the interface in; ls /dev/serial/by-id)"
    )
    assert r.returncode == 2 and lines[-1].startswith(f"buzzline: broker {closed}")  # it went on
    # a card without its answer: listed (the operator may know it), refused only with --strict
    show.write_text(HEAD + '[[rounds]]\nvalues = [100]\nquestions = [{ text = "Who?" }]\n')
    r = buzzline("host", "--show", str(show), "--broker", closed)
    assert "has no answer" in r.stderr and r.stderr.strip().splitlines()[-1].startswith(
        f"buzzline: broker {closed}"
    )
    r = buzzline("host", "--show", str(show), "--broker", closed, "--strict")
    assert r.returncode == 2 and "not started: the pre-show check found 1 problem" in r.stderr


async def test_the_console_lists_the_findings_until_acknowledged(broker: Any) -> None:
    from tests.test_console_browser import CHROMIUM, CHROMIUM_ARGS, TOKEN, _login, async_playwright, expect

    show = Show.default(["p1"])
    async with HostService(broker.host, broker.port, "pre", show=show) as svc:
        svc.preflight.found = [Finding("error", "adapter desk (osc)", "preset: 'qlcplu' is not one of ...")]
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        base = f"http://127.0.0.1:{api.server.config.port}"
        try:
            async with async_playwright() as pw:
                b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
                try:
                    page = await _login(b, base)
                    panel = page.locator("#preflight")
                    await expect(panel).to_be_visible()
                    await expect(panel).to_contain_text("adapter desk (osc): preset: 'qlcplu'")
                    await expect(panel).to_contain_text("p1: Player 1's podium has not said hello")
                    await page.click("#preflight-ack")
                    await expect(panel).to_be_hidden()
                    await page.reload()  # acknowledged on the host, not just on this page
                    await expect(page.locator("#link")).to_have_text("live")
                    await expect(panel).to_be_hidden()
                finally:
                    await b.close()
            async with httpx.AsyncClient(base_url=base) as http:
                assert (await http.post("/api/preflight/ack")).status_code == 401  # operator only
                assert (await http.get("/api/state")).json()["preflight"] == []
        finally:
            await api.close()
