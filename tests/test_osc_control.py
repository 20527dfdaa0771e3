"""The ``osc-control`` adapter driven by liblo's ``oscsend``: a question played from OSC alone
(the podiums still press), state feedback read by ``oscdump``, refusals answered on
/buzzline/error, and a sender outside the allow-list ignored and counted."""

from __future__ import annotations

import asyncio
import socket

from buzzline.adapters.api import Status

from tests.adapter_kit import Dump, free_udp_ports, host, need, press, wait_phase


async def oscsend(port: int, path: str, types: str = "", *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(need("oscsend"), "127.0.0.1", str(port), path, types, *args)
    assert await proc.wait() == 0


async def until(check, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not check():
            await asyncio.sleep(0.01)


async def test_a_question_played_from_osc_with_feedback_and_an_allow_list(broker):
    need("oscsend")
    port, strict_port, fb_port, fb2_port, port3 = free_udp_ports(5)
    async with Dump(fb_port) as fb, Dump(fb2_port) as fb2, host(broker) as svc:
        fb_only = {"port": port, "feedback": [f"127.0.0.1:{fb.port}"], "refresh_s": 0}
        await svc.adapters.add("osc-in", "osc-control", fb_only)
        # a tablet that restarts gets everything again every refresh_s
        await svc.adapters.add(
            "refresh", "osc-control", {"port": port3, "feedback": [f"127.0.0.1:{fb2_port}"], "refresh_s": 0.2}
        )
        await until(lambda: len([x for x in fb2.lines if x[0] == "/buzzline/state/phase"]) >= 3)
        # a second listener that only takes 127.0.0.2: oscsend's 127.0.0.1 is outside it
        await svc.adapters.add("strict", "osc-control", {"port": strict_port, "allow": ["127.0.0.2/32"]})
        await until(lambda: svc.adapters.instances["osc-in"].status == Status.OK)
        await until(lambda: svc.adapters.instances["strict"].status == Status.OK)
        phase = lambda: svc.view()["phase"]  # noqa: E731

        await oscsend(port, "/buzzline/read")
        await until(lambda: phase() == "reading")
        await oscsend(port, "/buzzline/arm", "f", "1.0")  # a button's press...
        await oscsend(port, "/buzzline/arm", "f", "0.0")  # ...and its release, which does nothing
        await until(lambda: phase() == "open")
        await press(svc, "p2")
        await wait_phase(svc, "answering")
        await oscsend(port, "/buzzline/judge", "s", "wrong")
        await until(lambda: phase() == "open")  # reopened for the others
        await press(svc, "p1")
        await wait_phase(svc, "answering")
        await oscsend(port, "/buzzline/judge/right")  # Companion's button form
        await until(lambda: phase() == "judged")
        scores = svc.view()["scores"]
        assert scores["Player 1"] == 100 and scores["Player 2"] == -100
        await oscsend(port, "/buzzline/adjust", "si", "Player 2", "50")
        await until(lambda: svc.view()["scores"]["Player 2"] == -50)
        await oscsend(port, "/buzzline/undo")
        await until(lambda: svc.view()["scores"]["Player 2"] == -100)
        await oscsend(port, "/buzzline/redo")
        await until(lambda: svc.view()["scores"]["Player 2"] == -50)
        await oscsend(port, "/buzzline/next")
        await until(lambda: phase() == "idle" and svc.view()["q"] == 2)

        # a refused command is answered on /buzzline/error, to the sender and the targets
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind(("127.0.0.1", 0))
            s.settimeout(5)
            s.sendto(b"/buzzline/judge/right\x00\x00\x00,\x00\x00\x00", ("127.0.0.1", port))
            reply, _ = await asyncio.to_thread(s.recvfrom, 2048)
        assert reply.startswith(b"/buzzline/error\x00")
        assert b"judge: not possible while idle" in reply
        await until(lambda: any(x[0] == "/buzzline/error" for x in fb.lines))
        assert phase() == "idle"  # state untouched
        # identify reaches the host's identify (these podiums were fed, never heard on the broker)
        await oscsend(port, "/buzzline/identify", "s", "p1")
        await until(lambda: any(x[0] == "/buzzline/error" and "identify" in x[2][0] for x in fb.lines))
        # wrong arguments are answered too
        await oscsend(port, "/buzzline/judge", "s", "maybe")
        await until(lambda: any(x[0] == "/buzzline/error" and "maybe" in " ".join(x[2]) for x in fb.lines))

        # the targets followed the game
        await until(lambda: ("/buzzline/state/phase", "s", ['"idle"']) in fb.lines)
        seen = [x for x in fb.lines if x[0] == "/buzzline/state/phase"]
        assert [x[2][0] for x in seen] == [
            '"idle"',
            '"reading"',
            '"open"',
            '"answering"',
            '"open"',
            '"answering"',
            '"judged"',
            '"idle"',
        ]
        assert ("/buzzline/state/winner", "s", ['"Player', '1"']) in fb.lines
        assert ("/buzzline/state/score/2", "i", ["-50"]) in fb.lines
        assert ("/buzzline/state/timer", "i", ["5000"]) in fb.lines  # the answer timer started

        # outside the allow-list: dropped and counted, nothing happens
        strict = svc.adapters.instances["strict"].adapter
        await oscsend(strict_port, "/buzzline/read")
        await until(lambda: strict is not None and strict.denied == 1)  # type: ignore[attr-defined]
        await asyncio.sleep(0.2)
        assert phase() == "idle"
        # garbage on the open port is counted too, and the adapter keeps serving
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"\xff\x00garbage", ("127.0.0.1", port))
        osc_in = svc.adapters.instances["osc-in"].adapter
        await until(lambda: osc_in is not None and osc_in.malformed >= 1)  # type: ignore[attr-defined]
        await oscsend(port, "/buzzline/read")
        await until(lambda: phase() == "reading")
