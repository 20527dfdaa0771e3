"""`buzzline bench audience`: simulated phones on a NATS cluster of its own, and what they cost.

A cluster of ``--nodes`` on free loopback ports, the audience adapter in this process (fed a
notice bus as the host would), ``--clients`` members in a child process spread over the nodes.
Each question opens as a notice, members answer after a think time; on the last question one
node is SIGKILLed mid-question. Reports: fan-out (question published -> received, p50/p99, by
every member and by 30 listeners in a process that does nothing else),
answers acknowledged by the stream vs accepted by the show (lost, doubled, duplicates caught),
close -> results (published, and received by members), the node kill (members moved, the
longest outage), the simulated clock error, per-node load (messages out, CPU seconds), and with
``--browsers K`` the clock error of K real Chromium pages through the cluster.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from buzzline.io import priority

NAME = "audience"
HELP = "audience on a NATS cluster: fan-out, answers lost/doubled, a node's SIGKILL, clock error"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, default=2000, help="simulated phones (1-5000)")
    parser.add_argument("--nodes", type=int, default=3, help="cluster nodes (1-7)")
    parser.add_argument("--questions", type=int, default=2, help="questions, a node dies in the last (1-10)")
    parser.add_argument("--window", type=float, default=6.0, help="seconds each question is open (2-60)")
    parser.add_argument("--no-kill", action="store_true", help="leave every node alive")
    parser.add_argument(
        "--kill",
        choices=("other", "adapter"),
        default="other",
        help="kill a node the adapter is not on, or its own",
    )
    parser.add_argument(
        "--keep", type=Path, help="keep the cluster's configs, stores and logs in this directory"
    )
    parser.add_argument(
        "--procs", type=int, default=0, help="crowd processes (default: 1 per 500, at most 4)"
    )
    parser.add_argument("--browsers", type=int, default=0, help="Chromium pages for the clock error (0-8)")
    parser.add_argument(
        "--crowd-nice",
        type=priority.level,
        default=0,
        metavar="N|idle",
        help="simulated phones at this nice level (0-19) or idle (SCHED_IDLE): the nodes get the CPU"
        " first, as phones elsewhere",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")


def _check(args: argparse.Namespace) -> None:
    from buzzline.errors import UserError

    limits = (
        ("clients", 1, 5000),
        ("nodes", 1, 7),
        ("questions", 1, 10),
        ("browsers", 0, 8),
        ("procs", 0, 8),
    )
    for name, lo, hi in limits:
        value = getattr(args, name)
        if not lo <= value <= hi:
            flag = "--" + name.replace("_", "-")
            raise UserError("bench audience", f"{flag} {value}: must be {lo} to {hi}", "bounded here")
    if not 2 <= args.window <= 60:
        raise UserError("bench audience", f"--window {args.window}: must be 2 to 60 seconds", "")
    if args.nodes == 1 and not args.no_kill:
        raise UserError("bench audience", "--nodes 1 cannot lose a node", "add --no-kill, or use 3 nodes")


def run(args: argparse.Namespace) -> int:
    import asyncio

    from buzzline.benchmarks._audience_bench import measure, print_report  # the cluster's clients: only now

    _check(args)
    out = asyncio.run(measure(args))
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print_report(out)
    sys.stdout.flush()
    return 0
