"""Issue 22: a new board is a new clock. A spare board taking over a podium id (a new
``hello.hw``) gets a fresh clock model, without the old crystal's skew as a prior, and every
press's bound covers its true time from the first; a reboot of the same board keeps the prior."""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.gate.bridge import Bridge
from buzzline.gate.ingest import Accepted


class Board:
    """A podium's crystal: podium µs from host µs, counting from its boot."""

    def __init__(self, hw: str, skew_ppm: float, boot_host_us: int, boot: int) -> None:
        self.hw, self.skew, self.h0, self.boot = hw, skew_ppm * 1e-6, boot_host_us, boot
        self.seq = self.n = 0
        self.prev: list[int] | None = None

    def pt(self, host_us: int) -> int:
        return 1_000 + round((host_us - self.h0) * (1 + self.skew))

    def up(self, kind: str, host_us: int, **kw: Any) -> Accepted:
        self.seq += 1
        msg = {"t": kind, "id": "p1", "b": self.boot, "seq": self.seq, "pt": self.pt(host_us), **kw}
        return Accepted("p1", "up", msg)

    def sync(self, host_us: int, up_us: int, down_us: int) -> tuple[Accepted, int]:
        """The request sent at ``host_us`` (reporting the previous exchange) and when the reply
        is back; the exchange it starts is reported by the next request."""
        self.n += 1
        msg: dict[str, Any] = {"t": "sync", "id": "p1", "b": self.boot, "n": self.n, "t1": self.pt(host_us)}
        if self.prev is not None:
            msg["prev"] = self.prev
        t2 = host_us + up_us
        t3 = t2 + 50
        self.prev = [self.n, self.pt(host_us), t2, t3, self.pt(t3 + down_us)]
        return Accepted("p1", "sync", msg), t2


def _run(bridge: Bridge, board: Board, start_us: int, seconds: float, period_us: int) -> int:
    """Exchanges every ``period_us`` with a little uneven queueing; returns the host time after."""
    t = start_us
    for i in range(int(seconds * 1e6 / period_us)):
        acc, arrival = board.sync(t, 900 + (i * 37) % 400, 900 + (i * 53) % 300)
        bridge.inbound(acc, arrival, arrival)
        t += period_us
    return t


def _presses(bridge: Bridge, board: Board, t: int, count: int) -> list[tuple[int, int, int]]:
    """(true press host µs, mapped, bound) of ``count`` presses 0.5 s apart, syncing between."""
    out = []
    for _ in range(count):
        t = _run(bridge, board, t, 0.5, 250_000)
        arrival = t + 3_000
        got = bridge.inbound(board.up("buzz", t, ep=1), arrival, arrival).events
        press = next(e for e in got if isinstance(e, ev.PodiumPress))
        out.append((t, press.mapped_us, press.err_us))
    return out


def _swap(new_hw: str) -> tuple[Bridge, list[tuple[int, int, int]]]:
    bridge = Bridge("s", GameEngine(Show.default([])), 0)
    old = Board("A-77", -77.0, 0, boot=1)
    bridge.inbound(old.up("hello", 10_000, hw=old.hw, board="picow", fw="1"), 11_000, 11_000)
    t = _run(bridge, old, 20_000, 30.0, 250_000)  # half a minute: the old crystal's skew is known
    model = bridge.clocks.get("p1")
    assert model is not None and model.skew_known is not None
    assert abs(model.skew_ppm - 77.0) < 2  # host - podium grows as the podium runs slow
    # the board is swapped (or rebooted): a new boot, its hello first, then the boot burst
    new = Board(new_hw, +69.0 if new_hw != old.hw else -77.0, t + 2_000_000, boot=2)
    t += 2_000_000
    bridge.inbound(new.up("hello", t, hw=new.hw, board="picow", fw="1"), t + 1_000, t + 1_000)
    t = _run(bridge, new, t + 5_000, 0.48, 60_000)
    return bridge, _presses(bridge, new, t, 20)


def test_a_new_board_gets_no_prior_and_honest_bounds_from_the_first_press() -> None:
    bridge, presses = _swap("B+69")
    for true_us, mapped, err in presses:
        assert abs(mapped - true_us) <= err, (true_us, mapped, err)
    model = bridge.clocks.get("p1")
    assert model is not None and model.prior_ppm is None
    # and the new crystal's skew is learned, not the old one kept
    assert abs(model.skew_ppm - (-69.0)) < 5


def test_a_reboot_of_the_same_board_keeps_its_skew_as_a_prior() -> None:
    bridge, presses = _swap("A-77")
    model = bridge.clocks.get("p1")
    assert model is not None and model.prior_ppm is not None and abs(model.prior_ppm - 77.0) < 2
    for true_us, mapped, err in presses:
        assert abs(mapped - true_us) <= err
