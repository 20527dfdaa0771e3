"""How a benchmark's stand-ins for other machines give this machine's CPU to the show first.

A level is a nice value (0 to 19) or ``IDLE``: Linux's SCHED_IDLE, under which a process runs
only on a core that no ordinary process wants, and an ordinary process that wakes takes the
core from it at once. Nice 19 is only a smaller share: a woken show process may still wait
behind a niced one for a scheduler tick. Levels are set in the child before it runs its
program (``before_exec``), so every thread it starts inherits them; ``setpriority`` on a
process that already runs reaches its first thread only, and a Go program such as nats-server
has started others by then.

A benchmark can also keep its stand-ins on CPUs of their own (``cpus``) and the show on the
others (``pinned``): the nearest this machine comes to other machines.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator

IDLE = "idle"
Level = int | str


def level(text: str) -> Level:
    """A level from the command line: 0 to 19 or ``idle`` (ValueError otherwise)."""
    if text.strip().lower() == IDLE:
        return IDLE
    n = int(text)
    if not 0 <= n <= 19:
        raise ValueError(f"{n}: a nice level is 0 to 19")
    return n


def apply(level: Level, cpus: Iterable[int] | None = None) -> None:
    """Set ``level`` (and the CPUs it may run on) on the calling process, and so on the threads
    it starts after."""
    if cpus is not None:
        os.sched_setaffinity(0, set(cpus))
    if level == IDLE:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
    elif level:
        os.nice(int(level))


def before_exec(
    level: Level, then: Callable[[], None] | None = None, cpus: Iterable[int] | None = None
) -> Callable[[], None] | None:
    """A ``preexec_fn`` that runs ``then`` and sets ``level`` and ``cpus`` (None when there is
    nothing to do)."""
    if not level and then is None and cpus is None:
        return None
    chosen = None if cpus is None else set(cpus)

    def child() -> None:
        if then is not None:
            then()
        apply(level, chosen)

    return child


@contextlib.contextmanager
def pinned(cpus: Iterable[int] | None) -> Iterator[None]:
    """The calling thread on ``cpus`` meanwhile (what it starts inherits them), then back."""
    if cpus is None:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def describe(level: Level) -> str:
    return "SCHED_IDLE" if level == IDLE else f"nice {level}"
