"""`buzzline bench KIND ...`: run one of the benchmarks in `buzzline.benchmarks`."""

from __future__ import annotations

import argparse
import importlib
import pkgutil

from buzzline import benchmarks

NAME = "bench"
HELP = "run a benchmark (fairness, core, e2e, ...) and print its figures"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="bench", metavar="KIND", required=True)
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"buzzline.benchmarks.{info.name}")
        p = sub.add_parser(mod.NAME, help=mod.HELP, description=mod.HELP)
        mod.add_arguments(p)
        p.set_defaults(_bench=mod.run)


def run(args: argparse.Namespace) -> int:
    rc: int = args._bench(args)
    return rc
