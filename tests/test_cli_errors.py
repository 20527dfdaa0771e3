"""Every mistake a new user makes on the command line ends in one line and exit status 2:
no traceback, no hang. Each row is a real `buzzline` process against real files, ports and a
real secured Mosquitto."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from buzzline.io.broker import MosquittoBroker, find_mosquitto, free_port
from buzzline.io.security import broker_extra_config, write_broker_config

pytestmark = pytest.mark.broker


@pytest.fixture(scope="module")
def place(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Files, ports and a secured broker the bad commands point at; {NAME} in a row is replaced."""
    if find_mosquitto() is None:
        pytest.fail("mosquitto is required (bash .ci/run installs it)")
    d = tmp_path_factory.mktemp("cli-errors")
    (d / "syntax.toml").write_text('[show]\ntitle = "x"\n[rules\nmode = "first"\n')
    (d / "unknown.toml").write_text('[show]\ntitle = "x"\nassign_on_hello = true\nbogus = 1\n')
    (d / "notalog.db").write_text("hello\n")
    (d / "bad.json").write_text("{not json")
    (d / "creds").mkdir()
    write_broker_config(d / "creds", "s1", ["p1", "p2"])
    broker = MosquittoBroker(
        extra_config=broker_extra_config(d / "creds"), allow_anonymous=False, workdir=d / "broker"
    )
    (d / "broker").mkdir()
    broker.start()
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()  # a port that is taken, and that accepts TCP but never speaks MQTT
    try:
        yield {
            "DIR": str(d),
            "SECURED": broker.address,
            "CLOSED": f"127.0.0.1:{free_port()}",
            "FREE": str(free_port()),
            "BUSY": str(busy.getsockname()[1]),
        }
    finally:
        busy.close()
        broker.stop()


# (argv, what the one line must say)
CASES = [
    (["host", "--show", "{DIR}/syntax.toml"], "syntax.toml:3: not valid TOML"),
    (["host", "--show", "{DIR}/unknown.toml"], "unknown key 'bogus'"),
    (["host", "--show", "{DIR}/missing.toml"], "missing.toml: cannot read the file"),
    (["host", "--broker", "{CLOSED}"], "broker {CLOSED}: connection refused"),
    (["host", "--broker", "127.0.0.1:{BUSY}"], "no answer within 5 s"),
    (["host", "--broker", "no-such-host.invalid:1883"], "unknown host name"),
    (["host", "--broker", "{SECURED}", "--user", "host", "--password", "wrong"], "refused user 'host'"),
    (["host", "--broker", "{SECURED}", "--studio", "s1"], "refused an anonymous client"),
    (["host", "--broker", "127.0.0.1:notaport"], "'notaport' is not a port number"),
    (["host", "--broker", "{CLOSED}", "--http", "{BUSY}"], "--http {BUSY}: the port is already in use"),
    (["host", "--http", "99999"], "port 99999 is out of range"),
    (["host", "--broker", "{CLOSED}", "--log", "{DIR}/nodir/show.db"], "no directory"),
    (["host", "--broker", "{CLOSED}", "--log", "{DIR}/notalog.db"], "not a Buzzline event log"),
    (["host", "--credentials", "{DIR}/bad.json"], "not JSON"),
    (["sim", "--broker", "{SECURED}", "--studio", "s1", "--seconds", "1"], "refused an anonymous client"),
    (["sim", "--credentials", "{DIR}/creds", "--studio", "other"], "is for studio 's1'"),
    (["sim", "--credentials", "{DIR}/creds", "--podiums", "3"], "no account for p3"),
    (["sim", "--credentials", "{DIR}/missing.json"], "no such file"),
    (["sim", "--podiums", "0"], "must be 1 to 64"),
    (["demo", "--broker", "{CLOSED}"], "broker {CLOSED}: connection refused (is the broker running?)"),
    (["demo", "--podiums", "0"], "--podiums 0: must be 1 to 64"),
    (["demo", "--log", "{DIR}/nodir/show.db"], "no directory"),
    (["report", "{DIR}/missing.db"], "no such event log"),
    (["report", "{DIR}/notalog.db"], "not a Buzzline event log"),
    (["replay", "{DIR}/notalog.db"], "not a Buzzline event log"),
    (["bench", "fairness", "--profile", "nope"], "no profile 'nope'"),
    (["bench", "chaos", "--workdir", "{DIR}"], "--workdir {DIR}: not an empty directory"),
    (["bench", "e2e", "--rounds", "3"], "--rounds goes with --audience-compare"),
    (
        ["bench", "e2e", "--audience", "5", "--audience-compare", "--rounds", "0"],
        "--rounds must be at least 1",
    ),
    (["broker", "config", "--studio", "s1", "--podiums", ",", "--out", "{DIR}/x"], "lists no podium ids"),
    (["flash", "--board", "esp32", "--port", "{DIR}/ttyUSB7"], "no device at"),
    (["host", "--studio", "bad/studio"], "studio name 'bad/studio' holds '/'"),
    (["sim", "--studio", "a+b"], "holds '+'"),
    (["viewer", "--studio", "#", "--state", "{DIR}/x.json"], "holds '#'"),
    (["adapter", "run", "osc", "--studio", ""], "studio name '' is empty"),
    (["host", "--broker", "{CLOSED}", "--log", "{DIR}"], "--log {DIR}: is a directory (name a file in it"),
    (
        ["host", "--broker", "{CLOSED}", "--http", "{FREE}", "--bind", "192.0.2.7"],
        "--bind 192.0.2.7: cannot listen",
    ),
    (
        ["adapter", "run", "osc", "--broker", "{CLOSED}"],
        "broker {CLOSED}: connection refused (is the broker running?",
    ),
    (["adapter", "run", "osc", "--broker", "{SECURED}", "--studio", "s1"], "refused an anonymous client"),
    (["adapter", "run", "osc", "--credentials", "{DIR}/creds", "--studio", "other"], "is for studio 's1'"),
    (["nosuchcommand"], "invalid choice"),
    (["host", "--nosuchoption"], "unrecognized arguments"),
]


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buzzline.cli", *argv],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip


@pytest.fixture(scope="module")
def outcomes(place: dict[str, str]) -> list[subprocess.CompletedProcess[str]]:
    """Every row's process, a few at a time (each is a whole `buzzline` start-up): the rows are
    independent, and one at a time they would take half a minute."""
    with ThreadPoolExecutor(6) as pool:
        return list(pool.map(_run, ([a.format(**place) for a in argv] for argv, _ in CASES)))


@pytest.mark.parametrize("row", range(len(CASES)), ids=[" ".join(a)[:60] for a, _ in CASES])
def test_a_user_mistake_is_one_line_and_exit_2(
    place: dict[str, str], outcomes: list[subprocess.CompletedProcess[str]], row: int
) -> None:
    r, says = outcomes[row], CASES[row][1]
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr + r.stdout
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("buzzline"), lines
    assert says.format(**place) in lines[0]


def test_debug_adds_the_traceback(place: dict[str, str]) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "host", "--show", f"{place['DIR']}/missing.toml", "--debug"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert r.returncode == 2
    assert "Traceback" in r.stderr and "ShowFileError" in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith("buzzline: show file")


def test_wait_retries_with_a_status_line_until_the_broker_answers(tmp_path: Path) -> None:
    port = free_port()
    host = subprocess.Popen(
        [sys.executable, "-m", "buzzline.cli", "host", "--broker", f"127.0.0.1:{port}", "--wait"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    broker = MosquittoBroker(port=port, workdir=tmp_path)
    try:
        assert host.stdout is not None
        first = host.stdout.readline()
        assert f"waiting for the broker at 127.0.0.1:{port}: connection refused" in first
        broker.start()
        assert f"broker 127.0.0.1:{port} is up" in host.stdout.readline()
        rest: list[str] = []
        while len(rest) < 5 and "buzzline host: studio 'demo'" not in "".join(rest):
            rest.append(host.stdout.readline())  # the line comes second or third; EOF ends it
        assert "buzzline host: studio 'demo'" in "".join(rest), rest
    finally:
        host.terminate()
        host.wait(10)
        broker.stop()


def test_a_bug_is_one_line_asking_for_a_report(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import buzzline.commands.replay as replay
    from buzzline.cli import main

    def broken(args: object) -> int:
        raise ZeroDivisionError("division by zero")

    monkeypatch.setattr(replay, "run", broken)
    assert main(["replay", "x.db"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "buzzline: internal error: ZeroDivisionError: division by zero "
        "(run again with --debug for the traceback, and please report it)"
    ]


def test_a_broker_lost_mid_run_is_one_line() -> None:
    import aiomqtt
    from buzzline.errors import explain

    told = explain(aiomqtt.MqttError("Disconnected during message iteration"))
    assert told is not None
    assert told.line() == (
        "buzzline: broker: the connection failed: Disconnected during message iteration "
        "(is the broker still running?)"
    )


def test_a_viewer_without_a_display_is_one_line_and_exit_2(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    assert _run(["viewer", "--demo-state", str(state)]).returncode == 0
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    r = subprocess.run(
        [sys.executable, "-m", "buzzline.cli", "viewer", "--state", str(state)],
        capture_output=True, text=True, timeout=30, env=env, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if Path("/dev/dri").exists() and any(Path("/dev/dri").glob("card*")):
        pytest.skip("this machine has a DRM device: kmsdrm may open a window")
    assert r.returncode == 2, r
    assert r.stderr.strip().splitlines() == [
        "buzzline viewer: no display to open a window on (set DISPLAY, or SDL_VIDEODRIVER=kmsdrm "
        "on a console; --no-window --web PORT serves the overlay alone)"
    ]


def test_every_host_option_says_what_it_is_for() -> None:
    from buzzline.cli import build_parser

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    host = sub.choices["host"]  # type: ignore[index]
    bare = [a.option_strings for a in host._actions if a.option_strings and not a.help]
    assert not bare, bare
    r = _run(["host", "--help"])
    assert "tie-break" in r.stdout and "keep it across restarts" in r.stdout and "--bind ADDR" in r.stdout
