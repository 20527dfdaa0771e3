"""The `buzzline` command line: one subcommand per module in `buzzline.commands`.

A mistake the user can fix ends in one line on stderr and exit status 2 (`buzzline.errors`);
`--debug` adds the traceback. Anything else is a bug: one line asking for a report, status 1.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
import traceback
from collections.abc import Sequence
from types import ModuleType
from typing import NoReturn

from buzzline import __version__, commands
from buzzline.errors import EXIT_USAGE, explain


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``buzzline host: <problem> (see buzzline host --help)``."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        kwargs.setdefault("formatter_class", _formatter)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see {self.prog} --help)\n")


class _LibraryNoise(logging.Filter):
    """Warnings of the libraries underneath (paho's "pending publish calls", uvicorn's) mean nothing
    a user can act on: they are logged at debug, shown with -vv or --debug. Errors stay errors."""

    def __init__(self, level: int) -> None:
        super().__init__()
        self.level = level

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] != "buzzline" and record.levelno < logging.ERROR:
            record.levelno, record.levelname = logging.DEBUG, "DEBUG"
            return self.level <= logging.DEBUG
        return True


def _formatter(prog: str) -> argparse.HelpFormatter:
    # wide enough that every command's summary stays on its own line
    return argparse.HelpFormatter(prog, max_help_position=14, width=130)


def _command_modules() -> list[ModuleType]:
    mods = []
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mods.append(importlib.import_module(f"buzzline.commands.{info.name}"))
    return mods


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="buzzline",
        description="Buzzline: a fair game-show buzzer system (podiums -> MQTT -> host).",
        epilog="`buzzline COMMAND --help` lists a command's options.",
    )
    parser.add_argument("--version", action="version", version=f"buzzline {__version__}")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more logging (-vv for debug)")
    parser.add_argument("--debug", action="store_true", help="show the traceback behind an error")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, title="commands")
    for mod in _command_modules():
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        # also accepted after the command; SUPPRESS keeps it from resetting the top-level one
        p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.DEBUG if args.debug else logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.addFilter(_LibraryNoise(level))
    try:
        rc: int = args._run(args)
    except KeyboardInterrupt:
        return 130
    except Exception as e:
        if args.debug:
            traceback.print_exc()
        known = explain(e)
        if known is not None:
            print(known.line(), file=sys.stderr, flush=True)
            return EXIT_USAGE
        print(
            f"buzzline: internal error: {type(e).__name__}: {e} "
            "(run again with --debug for the traceback, and please report it)",
            file=sys.stderr,
            flush=True,
        )
        return 1
    return rc


if __name__ == "__main__":
    sys.exit(main())
