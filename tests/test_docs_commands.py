"""Every shell command in a fenced block of README.md, docs/, hardware/ and the SPEC works as
written. Commands run in document order in a private directory (linked to the repository's
protocol/, firmware/ and examples/), against a private Mosquitto. What a test must change, and
nothing else: the broker address 127.0.0.1:1883 (the machine's broker, which tests never use), the
ports 8080, 8090 and 8765 of the operator API, the overlay and the release server (free ones),
/tmp/ and /etc/buzzline/ (inside the private directory), and optional flags in brackets; with no
screen, SDL draws offscreen. Long-running commands (host, sim, adapter run, viewer) start as in a
terminal of their own and keep running while the rest of their page is followed (a `curl` to the
host's API, a `sim` against the host); at the end of the page each must stop cleanly on Ctrl-C.
A block that starts and stops its own background job runs as one script. Those that cannot run
here are listed in NOT_RUN with the reason."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from buzzline.io.broker import MosquittoBroker, find_mosquitto, listen_ports
from buzzline.io.security import broker_extra_config

pytestmark = pytest.mark.broker

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
DOCS = [
    ROOT / "README.md",
    *sorted((ROOT / "docs").rglob("*.md")),
    *sorted((ROOT / "hardware").rglob("*.md")),
]
DOCS.append(ROOT / "protocol" / "SPEC.md")
LINKED = ("protocol", "firmware", "examples", "bench")
COPIED = ("docs",)  # commands write into it (docs/img): a copy, so the checkout stays as it is

BENCH = "a benchmark: minutes of CPU (tests/test_fairness_bench.py and the e2e tests run small ones)"
NOT_RUN = {
    r"^make test\b": "runs this whole suite",
    r"^git clone https://github.com/micropython/": "downloads MicroPython's source, which no registry "
    "here has (tests/test_micropython32.py checks the build script's errors)",
    r"micropython32\.sh ~/src/micropython": "builds MicroPython from the source the line above fetches",
    r"^BUZZLINE_MICROPYTHON=\S+ make test$": "runs this whole suite, on the build the line above makes",
    r"bin/pytest ": "runs part of this suite (and rewrites the screenshots in docs/img)",
    r"^make demo\b": "`buzzline demo` behind make, run by tests/test_recorded_show.py (make would "
    "reinstall .venv whenever pyproject.toml changed)",
    r"bench fairness --profile wifi --trials 20000": BENCH,
    r"bench fairness --profile mixed-fleet --trials 2000": BENCH,
    r"bench fairness-live ": BENCH,
    r"bench e2e ": BENCH,
    r"bench chaos ": "a benchmark: minutes of faults (tests/test_chaos_bench.py runs a small one)",
    r"bench capacity\b": BENCH,
    r"bench adapters ": BENCH,
    r"bench desk ": "a benchmark on a real QLC+ (tests/test_desk_bench.py runs a short one)",
    r"^mosquitto -c ": "listens on port 1883, the machine's own broker, which tests must not touch",
    r"^oscsend ": "needs a host running the osc-control adapter: tests/test_osc_control.py sends these",
    r"pip install \./examples/": "installs into the project's .venv; tests/test_adapter_example.py "
    "installs the example in a venv of its own",
    r"adapters show jsonl|adapter run jsonl": "needs the example adapter installed (the line above)",
    r"^sudo ": "administration of the Raspberry Pi the text sets up",
    r"^cd buzzline\b|venv --system-site-packages|pip install -e \.": "sets up a checkout on the "
    "Raspberry Pi (this project's .venv is made by make)",
    r"SDL_VIDEODRIVER=kmsdrm": "needs a Raspberry Pi's display (KMS/DRM)",
    r"^MICROPYPATH=": "needs the podium.json the text below describes; tests/test_firmware.py runs podiums",
    r"bench viewer": "a benchmark (tests/test_viewer_bench.py runs a small one)",
    r"bench firmware ": "a benchmark: 300 presses on three MicroPython podiums (tests/test_firmware.py "
    "runs a small one through the generated broker config)",
    r"firmware (push|rollback) ": "needs firmware podiums running (the MICROPYPATH line is not run here): "
    "tests/test_ota_host.py pushes through the same API, tests/test_ota_podium.py rolls back",
    r"bench sound": "a benchmark (tests/test_sound.py runs a small one)",
    r"bench audience": "a benchmark: a NATS cluster and 2000 simulated phones "
    "(tests/test_audience_cluster.py runs the same path small)",
    r"^buzzline audience cluster --nodes 3 --dir /tmp/audience$": "runs three NATS nodes until Ctrl-C; "
    "tests/test_audience_cluster.py starts its own clusters on free ports",
    r"^buzzline adapter run audience ": "needs the cluster of the command before it running; "
    "tests/test_audience_cluster.py runs it so (and SIGKILLs it) against its own cluster",
    r"docs/img/|^kill %1$": "rewrites the committed pictures in docs/img; the block before it runs the "
    "same viewer commands here, tests/test_overlay_browser.py the overlay in Chromium",
    r"^sudo apt install python3-pygame|--system-site-packages \.venv|^\.venv/bin/pip install -e \.$": "a "
    "Raspberry Pi's setup: installs system packages and a venv",
}
# What the page says a command's output shows (the figures themselves vary run to run).
SAYS = {
    # docs/operations.md: seed 7's fourth question is a dead heat, called a tie, then reopened
    r"replay /tmp/show\.db --kind decision": r"epoch 4: winner [^\n]*; tie (\w+/)+\w+ by [\s\S]*epoch 4:",
}
# placeholders in a synopsis line (KIND, HOST:PORT, or a $VARIABLE the text says to fill in): it
# shows the form of a command, not one to run
SYNOPSIS = re.compile(r"\b(KIND|HOST:PORT|STUDIO|SECRET)\b|\$[A-Z_]+\b")
DAEMONS = re.compile(r"^buzzline (host|adapter run|sim(?!.*--seconds)|viewer(?=.*--(broker|web)))\b")
COMMANDISH = re.compile(r"^(\$ |\.venv/bin/|buzzline |make |mosquitto |MICROPYPATH=|oscsend |echo )")


def shell_commands(path: Path) -> Iterator[tuple[int, str]]:
    """(line, command) for each command in the file's fenced shell blocks: every line of an
    sh/bash block, the `$ ` lines of a console transcript, and untyped blocks that hold commands."""
    text = path.read_text()
    for m in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.M | re.S):
        lang, body = m.group(1), m.group(2)
        lines = body.replace("\\\n", " ").splitlines()  # continuation lines join
        first = text[: m.start()].count("\n") + 2
        if lang not in ("", "sh", "bash", "shell", "console") or not lines:
            continue
        if any(line.endswith(" &") or line.startswith("kill %") for line in lines):
            yield first, "\n".join(lines)  # a script with its own background job: run as one
            continue
        if any(line.startswith("$ ") for line in lines):
            cmds = [line[2:] for line in lines if line.startswith("$ ")]
        elif lang or COMMANDISH.match(lines[0]):
            cmds = [line for line in lines if line.strip() and not line.lstrip().startswith("#")]
        else:
            continue
        for c in cmds:
            yield first, c.strip()


def all_commands() -> list[tuple[str, str]]:
    return [(f"{p.relative_to(ROOT)}:{n}", c) for p in DOCS for n, c in shell_commands(p)]


def not_run(cmd: str) -> str | None:
    if SYNOPSIS.search(cmd):
        return "a synopsis with placeholders"
    for pat, why in NOT_RUN.items():
        if re.search(pat, cmd):
            return why
    return None


def test_the_allow_list_names_only_commands_the_docs_show() -> None:
    cmds = [c for _, c in all_commands()]
    for pat in NOT_RUN:
        assert any(re.search(pat, c) for c in cmds), f"NOT_RUN entry {pat!r} matches no command any more"
    assert sum(1 for c in cmds if not_run(c) is None) >= 15


class Place:
    """The private directory, its brokers and the substitutions."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "tmp").mkdir()
        for name in LINKED:
            (root / name).symlink_to(ROOT / name)
        for name in COPIED:
            shutil.copytree(ROOT / name, root / name)
        self.open = MosquittoBroker(workdir=root / "broker-open")
        self.open.start()
        self.secured: MosquittoBroker | None = None
        self.http, self.web, self.fw = (str(p) for p in listen_ports(3))
        # a short TMPDIR: Chromium's socket paths must fit in 108 bytes
        self.tmpdir = tempfile.mkdtemp(prefix="bzdocs-")
        self.env = {**os.environ, "TMPDIR": self.tmpdir, "PATH": f"{BIN}:{os.environ['PATH']}"}
        # no screen here: SDL draws offscreen (docs/viewer.md), in a runtime directory of ours
        self.env.update(SDL_VIDEODRIVER="dummy", XDG_RUNTIME_DIR=self.tmpdir)

    def broker_for(self, cmd: str) -> str:
        m = re.search(r"--credentials (\S+)", cmd)
        if m is None:
            return self.open.address
        if self.secured is None:  # the broker `broker config` set up, as `mosquitto -c` would run it
            d = self.root / m.group(1)
            self.secured = MosquittoBroker(
                extra_config=broker_extra_config(d), allow_anonymous=False, workdir=self.root / "broker-sec"
            )
            self.secured.start()
        return self.secured.address

    def command(self, cmd: str) -> str:
        out = cmd
        swaps = {
            "127.0.0.1:1883": self.broker_for(cmd),
            "--http 8080": f"--http {self.http}",
            "127.0.0.1:8080": f"127.0.0.1:{self.http}",
            "--web 8090": f"--web {self.web}",
            "--fw-port 8765": f"--fw-port {self.fw}",
            "127.0.0.1:8090": f"127.0.0.1:{self.web}",
            "/tmp/": f"{self.root}/tmp/",
            "/etc/buzzline/": f"{self.root}/etc/buzzline/",
        }
        for old, new in swaps.items():
            out = out.replace(old, new)
        # the venv's path last: the checkout itself may live under /tmp
        out = re.sub(r"(^|\s)\.venv/bin/", rf"\1{BIN}/", out)
        out = re.sub(r"^buzzline ", f"{BIN}/buzzline ", out)
        return re.sub(r" \[-\w\]", "", out)

    def close(self) -> None:
        shutil.rmtree(self.tmpdir, ignore_errors=True)
        self.open.stop()
        if self.secured is not None:
            self.secured.stop()


class Daemon:
    """A long-running command in a terminal of its own: started, seen up, later stopped with Ctrl-C."""

    def __init__(self, place: Place, cmd: str) -> None:
        self.cmd = cmd
        self.proc = subprocess.Popen(
            cmd, shell=True, executable="/bin/bash", cwd=place.root, env=place.env, start_new_session=True,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.proc.stdout or []), daemon=True)
        self.reader.start()
        ready = "operator API" if "--http" in cmd else ""  # the API must answer before a curl
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.lines and ready in "".join(self.lines):
                break
            time.sleep(0.1)
        time.sleep(0.5)  # up, and staying up
        assert self.proc.poll() is None, f"{cmd} exited {self.proc.returncode}: {''.join(self.lines)}"

    def stop(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGINT)
            self.proc.wait(20)
        finally:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.reader.join(5)
        text = "".join(self.lines)
        assert self.proc.returncode == 0, f"{self.cmd} ended {self.proc.returncode} on Ctrl-C: {text}"
        assert "Traceback" not in text, text


def test_every_documented_command_runs(tmp_path: Path) -> None:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is required (bash .ci/run installs it)")
    place = Place(tmp_path)
    ran = 0
    running: list[Daemon] = []
    page = ""
    try:
        for where, cmd in all_commands():
            if where.split(":")[0] != page:  # a new page: what the last one left running stops
                while running:
                    running.pop().stop()
                page = where.split(":")[0]
            if not_run(cmd) is not None:
                continue
            line = place.command(cmd)
            name = re.sub(rf"^{re.escape(str(BIN))}/", "", line.split(" #")[0])
            if "\n" in line:  # a script that starts and stops its own background job
                while running:
                    running.pop().stop()
                line = "set -e\n" + line
            if DAEMONS.match(name) and "\n" not in line:
                running.append(Daemon(place, line))
            else:
                r = subprocess.run(
                    line, shell=True, executable="/bin/bash", cwd=place.root, env=place.env,
                    capture_output=True, text=True, timeout=180,
                )  # fmt: skip
                assert r.returncode == 0, f"{where}: {cmd}\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}"
                assert "Traceback" not in r.stdout + r.stderr, f"{where}: {cmd}\n{r.stderr[-1500:]}"
                for pat, says in SAYS.items():  # what the text around the command claims of it
                    if re.search(pat, cmd):
                        assert re.search(says, r.stdout), f"{where}: {cmd} should show {says!r}:\n{r.stdout}"
            ran += 1
            print(f"ran {where}: {cmd}")
        while running:
            running.pop().stop()
    finally:
        for d in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(d.proc.pid, signal.SIGKILL)
        place.close()
    assert ran >= 15
