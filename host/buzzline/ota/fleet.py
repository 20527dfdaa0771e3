"""The fleet's firmware: what each podium runs (from its hello), where its update stands (from
its ``fwst`` reports), and the commands that start, confirm and undo an update.

Pure: messages and facts in, wire messages out. The host feeds it every accepted podium message
and the trust of that podium's clock; an operator's push or rollback is refused with a reason
while a question is open or an update of that podium is still running.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from buzzline_protocol import topics

from buzzline.gate.bridge import Wire
from buzzline.ota.release import ReleaseError, ReleaseStore

# phases of the game in which no update may start (a question is being read, open or answered)
BUSY_PHASES = ("reading", "open", "answering")
RUNNING = ("fetch", "switch", "trial")


class FleetError(ValueError):
    """A push or rollback the fleet refuses; the message says why."""


@dataclass
class PodiumFirmware:
    id: str
    board: str = ""
    ver: str = ""  # from hello.fw
    rel: str = ""  # hello.rel: "" = the flashed release
    boot: int = -1  # the boot of its last hello
    step: str = ""  # last fwst step
    pct: int | None = None
    err: str | None = None
    target_ver: str = ""  # the release of the last step reported
    target_rel: str = ""
    got: int = 0  # bytes fetched in the last update
    confirmed: int = -1  # the boot fwgood was sent for

    def row(self, available: tuple[str, str] | None) -> dict[str, Any]:
        d = asdict(self)
        d.pop("confirmed")
        d["available"] = None if available is None else {"digest": available[0], "version": available[1]}
        return d


class Fleet:
    def __init__(
        self, studio: str, store: ReleaseStore | None, url: str | None, next_cs: Callable[[], int]
    ) -> None:
        self.studio = studio
        self.store = store
        self.url = url  # the release server's base URL as podiums reach it
        self.next_cs = next_cs
        self.podiums: dict[str, PodiumFirmware] = {}
        # podiums whose release on trial is not confirmed (`bench ota` cuts their power first)
        self.hold: set[str] = set()

    def _get(self, pid: str) -> PodiumFirmware:
        p = self.podiums.get(pid)
        if p is None:
            p = self.podiums[pid] = PodiumFirmware(pid)
        return p

    def inbound(self, pid: str, leaf: str, msg: dict[str, Any], trusted: bool) -> list[Wire]:
        """Every accepted podium message; ``trusted``: that podium's clock, as the host maps it."""
        kind = msg.get("t")
        if kind == "hello":
            p = self._get(pid)
            if msg["b"] != p.boot and p.step in ("fetch", "switch") and msg.get("rel", "") != p.target_rel:
                p.step, p.pct = "interrupted", None  # it restarted mid-update: push again to resume
            p.board, p.ver, p.rel, p.boot = msg["board"], msg["fw"], msg.get("rel", ""), msg["b"]
        elif kind == "fwst":
            p = self._get(pid)
            p.step, p.pct, p.err = msg["step"], msg.get("pct"), msg.get("err")
            p.target_ver, p.target_rel = msg.get("ver", ""), msg.get("rel", "")
            if "got" in msg:
                p.got = msg["got"]
        p2 = self.podiums.get(pid)
        if p2 is None or p2.step != "trial" or not trusted or p2.confirmed == p2.boot or pid in self.hold:
            return []
        # the release on trial has connected, said hello (this boot) and its clock is trusted
        if p2.rel != p2.target_rel or self.store is None:
            return []
        try:
            digest, _ = self.store.find(p2.rel)
        except ReleaseError:
            return []
        p2.confirmed = p2.boot
        return [self._cmd(pid, {"t": "fwgood", "cs": self.next_cs(), "man": digest})]

    def _cmd(self, pid: str, msg: dict[str, Any]) -> Wire:
        return Wire(topics.podium(self.studio, pid, "fw"), msg, qos=1)

    def _check(self, pids: Iterable[str], phase: str) -> list[str]:
        if phase in BUSY_PHASES:
            raise FleetError(f"a question is {phase}: updates wait until it is judged")
        chosen = sorted(self.podiums) if not pids else list(pids)
        if not chosen:
            raise FleetError("no podium has said hello yet")
        for pid in chosen:
            if pid not in self.podiums or not self.podiums[pid].board:
                raise FleetError(f"podium {pid!r} has not said hello")
            if self.podiums[pid].step in ("fetch", "switch"):
                raise FleetError(f"podium {pid!r} is already updating")
        return chosen

    def push(self, pids: Iterable[str], ref: str | None, phase: str) -> list[Wire]:
        """Update messages for these podiums (all that said hello when empty) to release ``ref``
        (a version or digest; default the newest for each podium's board)."""
        if self.store is None or self.url is None:
            raise FleetError("this host serves no releases (start it with --releases DIR)")
        chosen = self._check(pids, phase)
        out = []
        for pid in chosen:
            p = self.podiums[pid]
            try:
                if ref:
                    digest, m = self.store.find(ref, p.board)
                else:
                    digest, m = self.store.find_newest(p.board)
            except ReleaseError as e:
                raise FleetError(f"{pid}: {e}") from None
            sig = self.store.signature(digest)
            msg = {
                "t": "update",
                "cs": self.next_cs(),
                "url": self.url,
                "man": digest,
                "sig": sig,
                "ver": m.version,
            }
            p.step, p.pct, p.err, p.target_ver, p.target_rel, p.got = (
                "fetch",
                0,
                None,
                m.version,
                digest[:16],
                0,
            )
            out.append(self._cmd(pid, msg))
        return out

    def rollback(self, pids: Iterable[str], phase: str) -> list[Wire]:
        chosen = self._check(pids, phase)
        for pid in chosen:
            if not self.podiums[pid].rel:
                raise FleetError(f"podium {pid!r} runs its flashed release: nothing to roll back to")
        return [self._cmd(pid, {"t": "rollback", "cs": self.next_cs()}) for pid in chosen]

    def status(self) -> list[dict[str, Any]]:
        rows = []
        for pid in sorted(self.podiums):
            p = self.podiums[pid]
            available = None
            if self.store is not None and p.board:
                try:
                    digest, m = self.store.find_newest(p.board)
                    if digest[:16] != p.rel:
                        available = (digest, m.version)
                except ReleaseError:
                    pass
            rows.append(p.row(available))
        return rows
