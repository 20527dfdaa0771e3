"""The operator console in a real browser (Debian's chromium driven by Playwright) against a real
host, broker and virtual podiums: a whole question played from the keyboard alone, the login
and its refusals, a killed podium going offline on the grid, a tie's timeline.

``BUZZLINE_SCREENSHOTS=docs/img`` makes the keyboard test save the screenshots the docs show.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from buzzline.benchmarks.viewer import CHROMIUM, CHROMIUM_ARGS
from buzzline.core.show import Card, Round, Show
from buzzline.host_service import HostService
from buzzline.io.broker import free_port
from buzzline.sim.podium import VirtualPodium
from buzzline.web.app import OperatorServer, serve_operator_api
from playwright.async_api import Browser, Page, async_playwright, expect

TOKEN = "stage-door"
SHOTS = os.environ.get("BUZZLINE_SCREENSHOTS")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is required (bash .ci/run installs it)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            await b.close()


@pytest.fixture
async def host(broker: Any) -> AsyncIterator[tuple[HostService, OperatorServer, str]]:
    cards = (
        Card("Which planet has the shortest day?", "Jupiter: under 10 hours"),
        Card("What does MQTT's M stand for?", "Message"),
    )
    show = dataclasses.replace(Show.default([]), rounds=(Round("Round 1", (100, 200, 300), cards),))
    async with HostService(broker.host, broker.port, "con", show=show) as svc:
        api = await serve_operator_api(svc, "127.0.0.1", free_port(), token=TOKEN)
        try:
            yield svc, api, f"http://127.0.0.1:{api.server.config.port}"
        finally:
            await api.close()


async def _login(browser: Browser, base: str) -> Page:
    page = await browser.new_page(viewport={"width": 1400, "height": 1000})
    outside: list[str] = []
    page.on("request", lambda r: None if r.url.startswith(base) else outside.append(r.url))
    page.outside = outside  # type: ignore[attr-defined]
    await page.goto(f"{base}/console#token={TOKEN}")  # the login link `make demo` prints
    await expect(page.locator("#link")).to_have_text("live")
    return page


async def _until(check: Any, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():
            await asyncio.sleep(0.02)


async def _podiums(svc: HostService, broker: Any, *pids: str) -> list[VirtualPodium]:
    out = []
    for pid in pids:
        p = VirtualPodium(pid, broker.host, broker.port, "con")
        await p.start()
        out.append(p)
    await _until(lambda: _true(all(p in svc.engine.g.podiums for p in pids)))
    for p in out:  # trusted clocks, as a show starts
        await _until(lambda p=p: _true(svc.clocks.model(p.pid, p.boot).trusted), 10)
    return out


async def _true(v: bool) -> bool:
    return v


async def test_without_login_nothing_and_a_wrong_token_is_refused(host, browser):
    _, _, base = host
    page = await browser.new_page()
    r = await page.goto(f"{base}/console")
    assert r is not None and r.status == 401
    await page.fill("#token", "not-it")
    await page.click("button[type=submit]")
    await expect(page.locator(".error")).to_contain_text("not the operator token")
    async with httpx.AsyncClient(base_url=base) as http:
        assert (await http.post("/api/cmd/read")).status_code == 401
        assert (await http.get("/api/live")).status_code == 401
    await page.fill("#token", TOKEN)
    await page.click("button[type=submit]")
    await expect(page.locator("#link")).to_have_text("live")
    cookies = await page.context.cookies()
    (c,) = [c for c in cookies if c["name"] == "buzzline_session"]
    assert c["httpOnly"] and c["sameSite"] == "Strict"
    await page.click("#logout")
    await expect(page.locator("#token")).to_be_visible()


async def test_a_whole_question_from_the_keyboard(host, browser, broker):
    svc, _, base = host
    pods = await _podiums(svc, broker, "p1", "p2")
    try:
        page = await _login(browser, base)
        await expect(page.locator("article.podium.online")).to_have_count(2)
        # neither simulated podium declared a capture bound: the card says it is a default
        await expect(page.locator("article[data-podium=p1] dd.capture.default")).to_contain_text(
            "default for its board"
        )
        async with httpx.AsyncClient(base_url=base) as http:

            async def phase(want: str) -> None:
                async def ok() -> bool:
                    return (await http.get("/api/state")).json()["game"]["phase"] == want

                await _until(ok)
                await expect(page.locator("#phase")).to_have_attribute("data-phase", want)

            # a refused key shows the host's reason and leaves focus where it was
            await page.keyboard.press("Enter")
            await expect(page.locator(".toast.bad")).to_contain_text("nobody is answering")
            assert await page.evaluate("document.activeElement === document.body")

            await page.keyboard.press("r")
            await phase("reading")
            await page.keyboard.press("Space")
            await phase("open")
            await pods[0].press()
            await phase("answering")
            p1_player = svc.engine.g.podiums["p1"]
            p2_player = svc.engine.g.podiums["p2"]
            row = page.locator("#timeline tbody tr[data-podium=p1]")
            await expect(row.locator("td").last).to_have_text("1st")  # the column says "Wi-Fi order"
            await expect(row).to_have_class(re.compile(r"\banswering\b"))
            await expect(page.locator("#answering-now")).to_contain_text(f"Answering now: {p1_player}")
            await expect(page.locator("#card")).to_contain_text("Answer: Jupiter")
            # the why drawer speaks in ms after the buzzers opened, not raw host microseconds
            await page.locator("#timeline details.why summary").first.click()
            pressed = page.locator("#timeline table.evidence").first.locator("tbody td.num").first
            await expect(pressed).to_have_text(re.compile(r"^\d+\.\d{3} ms$"))
            await expect(page.locator("#timeline details.why")).to_contain_text("after arm")
            if SHOTS:
                await page.evaluate(
                    "document.getElementById('toasts').replaceChildren()"
                )  # the refusal above
                await page.screenshot(path=f"{SHOTS}/console.png", full_page=True)
            await page.keyboard.press("Backspace")  # wrong: the question reopens for p2
            await phase("open")
            # the timeline marks who was judged wrong and says the buzzers are open for the others
            await expect(row).to_have_class(re.compile(r"\bwrong\b"))
            await expect(page.locator("#timeline .dhead").first).to_contain_text("judged wrong")
            await expect(page.locator("#answering-now")).to_contain_text(f"Judged wrong: {p1_player}")
            await pods[1].press()
            await phase("answering")
            await expect(page.locator("#answering-now")).to_contain_text(f"Answering now: {p2_player}")
            await expect(page.locator("#timeline tbody tr[data-podium=p2]")).to_have_class(
                re.compile(r"\banswering\b")
            )
            judging = lambda r: r.method == "POST" and "judge" in (r.post_data or "")  # noqa: E731
            async with page.expect_request(judging) as sent:
                await page.keyboard.press("Enter")
            # the judgement names the podium the console showed answering (refused if it changed)
            assert (await sent.value).post_data_json["args"] == {"correct": True, "podium": "p2"}
            await phase("judged")
            state = (await http.get("/api/state")).json()
            assert state["game"]["scores"] == {p1_player: -100, p2_player: 100}
            await expect(page.locator(f"#scores tr[data-player='{p2_player}'] .score")).to_have_text("100")

            await page.keyboard.press("Control+z")  # undo the judgement
            await phase("answering")
            assert (await http.get("/api/state")).json()["game"]["scores"][p2_player] == 0
            history = page.locator("#scores .history li").first
            await expect(history).to_contain_text(f"{p2_player} -100 → 0 (undo judge)")
            await page.keyboard.press("Control+Shift+z")  # and redo it
            await phase("judged")
            await page.keyboard.press("n")
            await phase("idle")
            assert (await http.get("/api/state")).json()["game"]["q"] == 2

            await page.keyboard.press("2")  # select the second podium, identify it
            await expect(page.locator("article.podium.selected")).to_have_attribute("data-podium", "p2")
            await page.keyboard.press("i")
            await pods[1].wait_light("identify")

            await page.keyboard.press("?")
            await expect(page.locator("#help")).to_be_visible()
            await expect(page.locator("#help")).to_contain_text("Ctrl+Shift+Z")
            await page.keyboard.press("Escape")
            await expect(page.locator("#help")).to_be_hidden()
            if SHOTS:
                await page.screenshot(path=f"{SHOTS}/console-judged.png", full_page=True)
        assert page.outside == []  # type: ignore[attr-defined]
    finally:
        for p in pods:
            await p.stop()


async def test_a_killed_podium_goes_offline_on_the_grid(host, browser, broker):
    _, _, base = host
    sim = subprocess.Popen(
        [sys.executable, "-m", "buzzline.cli", "sim", "--broker", broker.address, "--studio", "con",
         "--podiums", "1", "--press", "never"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        page = await _login(browser, base)
        card = page.locator("article.podium[data-podium=p1]")
        await expect(card).to_have_class(re.compile(r"\bonline\b"), timeout=15_000)
        sim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await expect(card).to_have_class(re.compile(r"\boffline\b"), timeout=2_000)
        # unmistakable: a banner across the card in white on red, not a dimmed card
        banner = card.locator(".offline-banner")
        await expect(banner).to_be_visible()
        await expect(banner).to_contain_text("OFFLINE")
        colours = await banner.evaluate(
            "e => [getComputedStyle(e).color, getComputedStyle(e).backgroundColor]"
        )
        assert colours == ["rgb(255, 255, 255)", "rgb(239, 78, 78)"], colours
        assert await card.evaluate("e => getComputedStyle(e).opacity") == "1"
        print(f"offline on the grid {time.monotonic() - killed:.2f} s after the kill")
    finally:
        sim.kill()
        sim.wait()


async def test_a_tie_shows_both_presses_with_their_bounds_and_the_rule(host, browser, broker):
    svc, _, base = host
    pods = await _podiums(svc, broker, "p1", "p2")
    try:
        page = await _login(browser, base)
        await svc.command("arm")
        await asyncio.sleep(0.1)
        at = time.monotonic_ns() // 1000  # now: no watermark of either podium can be later
        # both podiums stamp the same host instant: no clock can tell them apart
        await asyncio.gather(*(p.press(at_podium_us=p.clock.at(at)) for p in pods))
        decision = await svc.wait_decision(5)
        assert decision.is_tie
        rows = page.locator("#timeline tbody tr[data-podium]")
        await expect(rows).to_have_count(2)
        await expect(page.locator("#timeline .tag.tie")).to_contain_text("rule earliest")
        for pid in ("p1", "p2"):
            row = page.locator(f"#timeline tr[data-podium={pid}]")
            err = next(r.err_us for r in decision.order if r.podium == pid)
            await expect(row.locator("td.bound")).to_contain_text("±")
            await expect(row).to_contain_text(f"±{err} µs" if err < 10000 else "ms")
        await page.locator("#timeline details.why summary").click()
        await expect(page.locator("#timeline details.why")).to_contain_text("lock acknowledged by")
    finally:
        for p in pods:
            await p.stop()


async def test_forms_rename_a_player_and_plug_an_adapter_in(host, browser, broker):
    svc, _, base = host
    pods = await _podiums(svc, broker, "p1")
    try:
        page = await _login(browser, base)
        player = svc.engine.g.podiums["p1"]
        await page.locator("article[data-podium=p1] button", has_text="Rename").click()
        await page.fill("#f-to", "Ada")
        await page.keyboard.press("r")  # typing in a form never drives the game
        await page.fill("#f-to", "Ada")
        await page.click("#form-dialog button[type=submit]")
        await expect(page.locator("#scores tr[data-player=Ada]")).to_be_visible()
        assert svc.engine.g.podiums["p1"] == "Ada" and player not in svc.engine.view()["scores"]
        assert svc.engine.view()["phase"] == "idle"

        # the form is generated from the kind's CONFIG_SCHEMA
        await page.click("text=Add adapter…")
        await page.select_option("#f-kind", "osc")
        await expect(page.locator("#f-preset option")).to_have_count(6)
        assert await page.get_attribute("#f-port", "max") == "65535"
        await page.fill("#f-instance", "desk")
        await page.fill("#f-port", "9")
        await page.select_option("#f-preset", "qlcplus")
        await page.fill("#f-vars", "{not json")
        await page.click("#form-dialog button[type=submit]")
        await expect(page.locator("#form-dialog .error")).to_have_text("vars: not JSON")
        await page.fill("#f-vars", "{}")
        await page.click("#form-dialog button[type=submit]")
        row = page.locator("#adapters tr[data-adapter=desk]")
        await expect(row).to_contain_text("osc")
        (inst,) = svc.adapters.snapshot()
        assert inst["config"]["preset"] == "qlcplus" and inst["config"]["port"] == 9
        await row.locator("button", has_text="Disable").click()
        await expect(row).to_contain_text("disabled")
        page.on("dialog", lambda d: asyncio.ensure_future(d.accept()))
        await row.locator("button", has_text="Remove").click()
        await expect(row).to_have_count(0)
        assert svc.adapters.snapshot() == []
    finally:
        for p in pods:
            await p.stop()


async def test_the_page_follows_the_host(host, browser, broker):
    """From a command's effects leaving the engine to the page showing them: printed, for
    docs/console.md (the clocks compared are this machine's one wall clock)."""
    svc, _, base = host
    pods = await _podiums(svc, broker, "p1")
    try:
        page = await _login(browser, base)
        await page.evaluate(
            """() => { window.seen = [];
            new MutationObserver(() => { const p = document.getElementById('phase');
              if (p) window.seen.push([p.dataset.phase, performance.timeOrigin + performance.now()]); })
            .observe(document.getElementById('show'), {childList: true, subtree: true}); }"""
        )
        lags = []
        for _ in range(10):
            for name, phase in (("read", "reading"), ("undo", "idle")):
                await svc.command(name)
                sent = time.time() * 1000
                await expect(page.locator("#phase")).to_have_attribute("data-phase", phase)
                seen = await page.evaluate("window.seen")
                lags.append(next(t for p, t in reversed(seen) if p == phase) - sent)
        lags.sort()
        median, worst = lags[len(lags) // 2], lags[-1]
        print(f"page behind the host: median {median:.1f} ms, max {worst:.1f} ms, n={len(lags)}")
        assert len(lags) == 20 and all(lag > -5 for lag in lags)  # the page never shows it before it happened
    finally:
        for p in pods:
            await p.stop()
