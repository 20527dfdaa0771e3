"""The viewers' state of a big show fits the protocol: 64 podiums, long names, a full ring-in order."""

from __future__ import annotations

from buzzline.core import events as ev
from buzzline.core.game import GameEngine
from buzzline.core.show import Show
from buzzline.gate.bridge import state_message
from buzzline_protocol import codec


def test_a_64_podium_state_with_a_full_order_encodes() -> None:
    pids = [f"podium-{i:02d}" for i in range(64)]
    eng = GameEngine(Show.default(pids, mode="ranked"))
    t = 1_000_000
    for pid in pids:
        eng.handle(ev.PodiumHello(pid, "a" * 12, "esp32", "0.1.0"), t)
    for i, pid in enumerate(pids):
        eng.handle(
            ev.Command(
                "assign", {"podium": pid, "player": f"Ünïcode contestant {i:02d} " + "x" * 6, "create": True}
            ),
            t,
        )
    eng.handle(ev.Command("arm"), t)
    for i, pid in enumerate(pids):
        t += 100
        eng.handle(ev.PodiumPress(pid, 1, 5_000 + i, t, 200, True, t + 500), t + 500)
    for pid in pids:
        eng.handle(ev.PodiumWatermark(pid, 2, t + 10_000, 100, lock_ack=True), t + 20_000)
    eng.tick(t + 5_000_000)
    view = eng.view()
    assert len(view["order"]) == 64 and len(view["info"]["podiums"]) == 64
    wire = codec.encode(state_message(view, t))
    assert codec.MAX_SIZE < len(wire) <= codec.MAX_STATE_SIZE
    assert codec.decode(wire)["order"][63]["podium"] == view["order"][63]["podium"]
