"""Sound cues without a sound card: SDL's disk audio driver writes the PCM the device would
play; a whole question through a real host and broker must put the expected cues in it, in
order, at the right pitch. Bad cue settings are one clear error at start."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from buzzline.adapters.api import Status, validate_config
from buzzline.adapters.sound import SoundAdapter
from buzzline.sound import cues, pcm, player, tones

from tests.adapter_kit import host, whole_question

RATE = 44100
BIN = Path(sys.executable).parent


def _close(a: float, b: float, rel: float = 0.03) -> bool:
    return abs(a - b) <= rel * b


@pytest.mark.parametrize("shape", cues.WAVES)
@pytest.mark.parametrize("freq", [196.0, 523.25, 1318.51, 4186.01])
def test_generated_tones_have_their_pitch(shape: str, freq: float) -> None:
    s = [v / 32768 for v in tones.samples([freq], 200, shape, RATE)]
    assert _close(pcm.pitch_hz(s, RATE), freq, 0.01)
    assert max(abs(v) for v in s) < 1.0
    assert s[0] == 0 and abs(s[-1]) < 0.01  # faded in and out: no click


def test_rests_split_a_cue_into_separate_sounds() -> None:
    s = [v / 32768 for v in tones.samples([987.77, 0, 987.77, 0, 987.77], 90, "sine", RATE)]
    assert len(pcm.segments(s, RATE, gap_ms=20)) == 3


def test_cue_settings_refuse_mistakes_with_a_hint(tmp_path: Path) -> None:
    with pytest.raises(cues.CueConfigError, match="did you mean 'right'"):
        cues.parse_cues({"rigth": {"volume": 0.5}})
    with pytest.raises(
        cues.CueConfigError, match=r"cues\.right\.volum: unknown setting.*did you mean 'volume'"
    ):
        cues.parse_cues({"right": {"volum": 0.5}})
    with pytest.raises(cues.CueConfigError, match=r"cues\.wrong\.volume: expected a number from 0.0 to 1.0"):
        cues.parse_cues({"wrong": {"volume": 2}})
    with pytest.raises(cues.CueConfigError, match=r"cues\.right\.file: no such file .*missing\.wav"):
        cues.parse_cues({"right": {"file": "missing.wav"}}, tmp_path)
    with pytest.raises(cues.CueConfigError, match=r"only ringin and false_start"):
        cues.parse_cues({"right": {"files": ["a.wav"]}})
    (tmp_path / "right.wav").write_bytes(tones.wav([880.0], 50))
    specs = cues.parse_cues({"right": {"file": "right.wav"}, "over": {"enabled": True}}, tmp_path)
    assert specs["right"].file == str(tmp_path / "right.wav")
    assert specs["over"].enabled and not cues.DEFAULTS["over"].enabled


def test_calls_follow_the_events() -> None:
    view = {"info": {"podiums": {"p1": {"seat": 1, "team": "Red"}, "p2": {"seat": 2, "team": "Blue"}}}}
    events = [
        {"k": "armed", "ep": 1, "q": 1},
        {"k": "winner", "podium": "p1", "seat": 1, "team": "Red"},
        {"k": "judged", "correct": False, "result": "answer_timeout"},
        {"k": "timer_expired", "timer": "answer"},
        {"k": "judged", "correct": False, "result": "incorrect"},
        {"k": "light", "podium": "all"},
        {"k": "question_over", "q": 1, "result": "right"},
    ]
    assert cues.calls(events[:1], view) == [cues.Call("open")]
    got = cues.calls(events, view)
    assert [(c.cue, c.variant) for c in got] == [  # "open" gives way to the other cues
        ("ringin", 0),
        ("times_up", None),
        ("wrong", None),
        ("over", None),
    ]
    by_team = cues.calls(events[1:2], view, by_team=True)
    assert by_team == [cues.Call("ringin", 1)]  # Blue, Red: Red is the second team


async def test_a_whole_question_calls_its_cues_in_order(broker: Any) -> None:
    """The real engine's notices for a played question, as the adapter reads them."""
    async with host(broker, "sound-calls") as svc:
        sub = svc.notices.subscribe("test", 256, replay_latest=False)
        await whole_question(svc)
        got: list[tuple[str, int | None]] = []
        while (notice := sub.get_nowait()) is not None:
            got += [(c.cue, c.variant) for c in cues.calls(notice.events, notice.view)]
    assert got == [
        ("false_start", 2),
        ("open", None),
        ("ringin", 1),
        ("wrong", None),  # the reopen's "open" gives way to it
        ("ringin", 0),
        ("right", None),
    ]  # question_over comes with the next question, not with the judgement


async def _until(pred: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not pred():
            await asyncio.sleep(0.02)


async def test_a_whole_question_reaches_the_audio_device(
    broker: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In the host, on SDL's disk driver: each cue's sound, in order, at its pitch."""
    out = tmp_path / "device.raw"
    monkeypatch.setenv("SDL_AUDIODRIVER", "disk")
    monkeypatch.setenv("SDL_DISKAUDIOFILE", str(out))
    short = {name: {"note_ms": 60} for name in cues.CUES}
    short["times_up"] = {"enabled": False}
    async with host(broker, "sound-device") as svc:
        inst = await svc.adapters.add("sound", "sound", {"cues": short})
        await _until(lambda: inst.status is not Status.CONNECTING)
        assert inst.status is Status.OK, inst.message
        await asyncio.sleep(0.2)
        await whole_question(svc, pause=0.4)
        await asyncio.sleep(0.4)
        await svc.adapters.remove("sound")
    samples = pcm.left_channel(out.read_bytes())
    found = pcm.segments(samples, RATE, gap_ms=40)
    heard = [pcm.pitch_hz(samples[a : min(b, a + int(RATE * 0.05))], RATE) for a, b in found]
    expected = [196.0, 1318.51, 587.33, 233.08, 523.25, 1046.50]  # each cue's first note
    assert len(heard) == len(expected), (heard, found)
    for got, want in zip(heard, expected, strict=True):
        assert _close(got, want), (heard, expected)
    # nothing sounds before the first cue: the device plays silence until a notice calls for one
    assert found[0][0] > 0


async def test_a_missing_or_broken_file_is_bad_config_at_start(broker: Any, tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    async with host(broker, "sound-bad") as svc:
        missing = await svc.adapters.add(
            "missing", "sound", {"cues": {"right": {"file": str(tmp_path / "no.wav")}}}
        )
        bad = await svc.adapters.add("broken", "sound", {"cues": {"wrong": {"file": str(broken)}}})
        await _until(lambda: Status.CONNECTING not in (missing.status, bad.status))
        await asyncio.sleep(0.3)  # not retried: the status stays
        assert missing.status is Status.BAD_CONFIG
        assert missing.message == f"cues.right.file: no such file {tmp_path / 'no.wav'}"
        assert bad.status is Status.BAD_CONFIG and missing.restarts == 0 and bad.restarts == 0
        assert bad.message.startswith(f"cues.wrong.file: cannot decode {broken}")
        assert player.check_file(str(broken)) is not None
        good = tmp_path / "good.wav"
        good.write_bytes(tones.wav([440.0], 30))
        assert player.check_file(str(good)) is None


def test_mute_skips_cues_and_is_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_AUDIODRIVER", "dummy")
    player.open_mixer()
    try:
        bank = player.CueBank(cues.DEFAULTS)
        bank.load()
        assert len(bank.sounds["ringin"]) == len(cues.SEAT_NOTES_HZ) and "over" not in bank.sounds
        assert bank.play(cues.Call("ringin", 3))
        assert player.toggle_mute() is True
        assert not bank.play(cues.Call("right"))
        assert bank.skipped_muted == 1
        assert player.toggle_mute() is False
        assert bank.play(cues.Call("right")) and bank.played == 2
        assert not bank.play(cues.Call("over"))  # off by default
    finally:
        player.set_muted(False)
        player.close_mixer()


def test_schema_defaults() -> None:
    config = validate_config(SoundAdapter.CONFIG_SCHEMA, {})
    assert config["buffer"] == 512 and config["ringin_by"] == "seat" and math.isclose(config["volume"], 1.0)


async def test_the_standalone_viewer_plays_the_cues_with_its_themes_sound_set(
    broker: Any, tmp_path: Path
) -> None:
    """``buzzline viewer --broker`` as a person runs it, on SDL's dummy video and disk audio: the
    cues of a question played on a real host, with the theme's own sound for ``right``."""
    (tmp_path / "sounds").mkdir()
    (tmp_path / "sounds" / "right.wav").write_bytes(tones.wav([440.0], 120))
    theme = tmp_path / "theme.toml"
    theme.write_text('[sounds.right]\nfile = "sounds/right.wav"\n[sounds.false_start]\nenabled = false\n')
    out = tmp_path / "device.raw"
    env = {**os.environ, "SDL_VIDEODRIVER": "dummy", "SDL_AUDIODRIVER": "disk", "SDL_DISKAUDIOFILE": str(out)}
    async with host(broker, "sound-viewer") as svc:
        proc = await asyncio.create_subprocess_exec(
            str(BIN / "buzzline"), "viewer", "--broker", f"{broker.host}:{broker.port}",
            "--studio", "sound-viewer", "--size", "640x360", "--theme", str(theme),
            env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
        )  # fmt: skip
        try:
            await _until(lambda: out.exists() and out.stat().st_size > 0, 20)
            await asyncio.sleep(1.0)  # the feed has the retained state
            await whole_question(svc, pause=0.5)
            await asyncio.sleep(0.5)
        finally:
            proc.send_signal(signal.SIGINT)
            text = (await asyncio.wait_for(proc.communicate(), 20))[0].decode()
    assert proc.returncode == 0 and "Traceback" not in text, text
    samples = pcm.left_channel(out.read_bytes())
    found = pcm.segments(samples, RATE, gap_ms=40)
    heard = [pcm.pitch_hz(samples[a : min(b, a + int(RATE * 0.05))], RATE) for a, b in found]
    expected = [1318.51, 587.33, 233.08, 523.25, 440.0]  # open, p2, wrong, p1, the theme's right
    assert len(heard) == len(expected), (heard, text)
    for got, want in zip(heard, expected, strict=True):
        assert _close(got, want), (heard, expected)


def test_a_broken_theme_sound_is_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    theme = tmp_path / "theme.toml"
    theme.write_text('[sounds.wrong]\nfile = "bad.wav"\n')
    r = subprocess.run(
        [BIN / "buzzline", "viewer", "--broker", "127.0.0.1:9", "--theme", str(theme)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2, r.stderr
    line = r.stderr.strip()
    assert "\n" not in line and line.startswith(f"buzzline viewer: {theme}: sounds.wrong.file: cannot decode")
    theme.write_text('[sounds.wrnog]\nfile = "bad.wav"\n')
    r = subprocess.run(
        [BIN / "buzzline", "viewer", "--broker", "127.0.0.1:9", "--theme", str(theme)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert r.returncode == 2 and "did you mean 'wrong'" in r.stderr, r.stderr


def test_bench_sound_measures_every_cue_at_the_device() -> None:
    """A small ``buzzline bench sound``: every cue found at the device, both frame series there."""
    r = subprocess.run(
        [BIN / "buzzline", "bench", "sound", "--cues", "6", "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["missed"] == 0 and out["notice_to_device_ms"]["n"] == 6
    total, adapter, device = out["notice_to_device_ms"], out["adapter_ms"], out["device_ms"]
    assert 0 < adapter["p50"] <= total["p50"] and 0 < device["p50"] <= total["p50"]
    assert out["frame_ms"]["with_sound"]["n"] > 0 and out["frame_ms"]["without_sound"]["n"] > 0
    bad = subprocess.run(
        [BIN / "buzzline", "bench", "sound", "--buffer", "9"], capture_output=True, text=True
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_the_pub_quiz_example_has_valid_sound_settings() -> None:
    from buzzline.adapters.sound import cue_specs
    from buzzline.showfile import load_show

    show = load_show(Path(__file__).resolve().parent.parent / "examples" / "shows" / "pub-quiz.toml")
    (spec,) = [a for a in show.adapters if a.kind == "sound"]
    specs = cue_specs(validate_config(SoundAdapter.CONFIG_SCHEMA, spec.settings))
    assert specs["over"].enabled and specs["right"].notes == (784.0, 1047.0, 1319.0)


def test_buzzline_check_names_a_broken_sound_and_a_missing_device(tmp_path: Path) -> None:
    """The pre-show check: a cue file that does not decode, a misspelt cue, and (SDL's dummy
    audio driver stands in for a sound card) a device that does not open."""
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x10\x00\x00\x00WAVEjunkjunk")
    head = '[show]\ntitle = "x"\n[[players]]\nname = "Ann"\npodium = "p1"\n'
    adapter = '[[adapters]]\nname = "bell"\nkind = "sound"\n'
    show = tmp_path / "show.toml"

    def check(text: str, driver: str = "dummy") -> subprocess.CompletedProcess[str]:
        show.write_text(head + adapter + text)
        env = {**os.environ, "SDL_AUDIODRIVER": driver}
        return subprocess.run(
            [BIN / "buzzline", "check", str(show), "--no-broker"],
            capture_output=True, text=True, timeout=60, env=env, cwd=tmp_path, check=False,
        )  # fmt: skip

    r = check('[adapters.cues.wrong]\nfile = "bad.wav"\n')
    assert r.returncode == 2, r
    (line,) = r.stdout.strip().splitlines()
    assert line.startswith("error: adapter bell (sound): cues.wrong.file: cannot decode bad.wav"), line
    r = check("[adapters.cues.rigth]\nvolume = 0.5\n")
    assert r.returncode == 2 and "did you mean 'right'?" in r.stdout, r
    r = check("", driver="nonesuch")  # SDL has no such audio driver: no device opens
    assert r.returncode == 2 and "audio device did not open" in r.stdout, r
    r = check("")
    assert r.returncode == 0 and r.stdout.strip() == "", r
