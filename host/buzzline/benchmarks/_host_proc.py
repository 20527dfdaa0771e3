"""The host process of `bench e2e`: the real ``HostService``, steered over stdin.

What a show runs (``buzzline host``: the same service, event log and fsync), plus what only a
benchmark needs: the lock-path stamps (``LockTrace``), a pause that unsubscribes the host from
the podiums' ``up`` topic (buzzes, acknowledgements, heartbeats; it goes on answering clock
syncs) while the bare relay takes a press, and slow adapters hot-plugged in the
host (``svc.adapters.add``) through the manager's ``kinds`` override.

stdin, one command a line, each answered by one line on stdout (``ok ...`` or ``err ...``):
    cmd NAME [JSON]       an operator command
    ready N               ok once N podiums are online with a trusted clock
    pause / resume        unsubscribe from / resubscribe to the podiums' up topic
    heard N               ok once N podiums sent a heartbeat since the last resume
    adapters N SLEEP_MS   run N slow adapters (0: none)
    cpu                   the host's CPU seconds and the wall clock
    report                the lock stamps (one JSON line)
    quit
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import resource
import sys
import time
from typing import Any

from buzzline_protocol import topics

from buzzline.adapters.api import Adapter, Field, Notice, Status
from buzzline.adapters.audience import AudienceAdapter
from buzzline.adapters.runner import AdapterManager
from buzzline.benchmarks._procs import say
from buzzline.core.show import Show
from buzzline.host_service import HostService
from buzzline.hosttime import now_us
from buzzline.lock_trace import LockTrace

SLOW_KIND = "bench-slow"


class SlowAdapter(Adapter):
    """A loaded adapter that takes its time over every notice (without blocking the loop)."""

    KIND = SLOW_KIND
    TITLE = "benchmark: sleeps per notice"
    CONFIG_SCHEMA = (Field("sleep_ms", "int", default=200, min=0, max=10_000, help="sleep per notice"),)

    async def handle(self, notice: Notice) -> None:
        await asyncio.sleep(self.config["sleep_ms"] / 1000)


class _GapFilter(logging.Filter):
    """Unsubscribed, the host misses upstream sequence numbers on purpose: counted, not logged."""

    def __init__(self) -> None:
        super().__init__()
        self.gaps = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if "upstream messages missing" in record.msg:
            self.gaps += 1
            return False
        return True


def _cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _control(svc: HostService, trace: LockTrace, gaps: _GapFilter) -> None:
    reader = asyncio.StreamReader()
    loop = asyncio.get_running_loop()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    slow: list[str] = []
    drops = 0
    resumed = 0
    while line := (await reader.readline()).decode().strip():
        word, _, rest = line.partition(" ")
        if word == "quit":
            break
        client = svc.client
        if word == "cmd":
            name, _, js = rest.partition(" ")
            effects = await svc.command(name, **(json.loads(js) if js else {}))
            say(f"ok {len(effects)}")
        elif word == "ready":
            want = int(rest)
            ok = [p for p in svc.registry.podiums.values() if p.online and p.clock_trusted]
            say(f"{'ok' if len(ok) >= want else 'wait'} {len(ok)}")
        elif word in ("pause", "resume") and client is not None:
            # Only the game's leaf: the host keeps answering clock syncs, so the podiums and the
            # broker carry the same load while the relay takes a press as while the host does.
            flt = topics.podium_filter(svc.studio, "up")
            await (client.unsubscribe(flt) if word == "pause" else client.subscribe(flt, qos=1))
            await asyncio.sleep(0.002 if word == "pause" else 0)  # what was on its way meanwhile
            resumed = now_us()
            say("ok")
        elif word == "heard":
            heard = [p for p in svc.registry.podiums.values() if (p.last_hb_us or 0) >= resumed]
            say(f"{'ok' if len(heard) >= int(rest) else 'wait'} {len(heard)}")
        elif word == "adapters":
            n, sleep_ms = (int(x) for x in rest.split())
            for name in slow:
                inst = svc.adapters.instances.get(name)
                drops += inst.sub.dropped if inst is not None and inst.sub is not None else 0
                await svc.adapters.remove(name)
            slow = [f"slow{i}" for i in range(n)]
            for name in slow:
                await svc.adapters.add(name, SLOW_KIND, {"sleep_ms": sleep_ms})
            trace.tag = "slow" if n else ""
            say("ok")
        elif word == "cpu":
            say(f"ok {_cpu_s():.4f} {time.monotonic():.4f}")
        elif word == "report":
            report: dict[str, Any] = {"locks": trace.records, "adapter_drops": drops, "gaps": gaps.gaps}
            say("ok " + json.dumps(report))
        else:
            say(f"err {line}")


async def _add_audience(svc: HostService, settings: dict[str, Any]) -> None:
    """The audience adapter, up before the podiums come (``bench e2e --audience``)."""
    inst = await svc.adapters.add("audience", "audience", settings)
    async with asyncio.timeout(30):
        while inst.status is not Status.OK:
            await asyncio.sleep(0.05)


async def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--studio", required=True)
    ap.add_argument("--log", required=True)
    ap.add_argument("--user", default=None, help="broker account (a secured broker)")
    ap.add_argument("--password", default=None)
    ap.add_argument("--lock-after-fsync", action="store_true")
    ap.add_argument("--fsync-inline", action="store_true")
    ap.add_argument("--lock-behind-acks", action="store_true")
    ap.add_argument("--audience", help="settings (JSON) of an audience adapter to run in the host")
    a = ap.parse_args(argv)
    HostService.LOCK_BEFORE_FSYNC = not a.lock_after_fsync
    HostService.FSYNC_IN_THREAD = not a.fsync_inline
    HostService.LOCK_AHEAD_OF_ACKS = not a.lock_behind_acks
    gaps = _GapFilter()
    logging.getLogger("buzzline.host").addFilter(gaps)
    show = dataclasses.replace(Show.default([]), rounds=())  # as `buzzline host` without a show
    async with HostService(
        a.host, a.port, a.studio, show=show, log_path=a.log, username=a.user, password=a.password
    ) as svc:
        svc.adapters = AdapterManager(
            svc.notices,
            svc.view,
            svc._adapter_command,
            kinds={SLOW_KIND: SlowAdapter, "audience": AudienceAdapter},
        )
        if a.audience:
            await _add_audience(svc, json.loads(a.audience))
        trace = LockTrace()
        client = svc.client
        assert client is not None
        trace.attach(client)
        svc.trace = trace
        say("ready")
        await _control(svc, trace, gaps)
        await svc.adapters.close()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
