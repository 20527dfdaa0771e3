"""The studio examples stay true: the show file loads and every adapter's settings pass its
kind's schema; the QLC+ workspace binds each qlcplus-preset path to the channel QLC+ hashes it to."""

from __future__ import annotations

import re
from pathlib import Path

from buzzline.adapters.api import validate_config
from buzzline.adapters.oscpresets import QLCPLUS
from buzzline.adapters.oscwire import qlc_channel
from buzzline.adapters.runner import load_kind
from buzzline.showfile import load_show

ROOT = Path(__file__).resolve().parent.parent


def test_studio_show_file_loads_with_valid_adapter_settings() -> None:
    show = load_show(ROOT / "examples" / "shows" / "studio.toml")
    kinds = {a.kind for a in show.adapters}
    assert kinds == {"osc", "osc-control", "dmx-usbpro"}
    for spec in show.adapters:
        validate_config(load_kind(spec.kind).CONFIG_SCHEMA, spec.settings)
    for spec in load_show(ROOT / "docs" / "example-show.toml").adapters:
        validate_config(load_kind(spec.kind).CONFIG_SCHEMA, spec.settings)


def test_qlcplus_workspace_binds_the_preset_paths() -> None:
    text = (ROOT / "examples" / "qlcplus" / "buzzline.qxw").read_text()
    inputs = [int(c) for c in re.findall(r'<Input Universe="0" Channel="(\d+)"/>', text)]
    paths = [f"/buzzline/{s}/{x}" for s in (1, 2, 3, 4) for x in ("winner", "r", "g", "b")]
    assert inputs == [qlc_channel(p) for p in paths]
    assert QLCPLUS.rules["winner"]["path"] == "/buzzline/{seat}/winner"
    assert QLCPLUS.rules["r"]["path"] == "/buzzline/{seat}/r"
