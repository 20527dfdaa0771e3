#!/bin/sh
# Build MicroPython's unix port as a 32-bit program: a board's word size (ESP32, RP2040), so a
# podium's objects take the room they take on a board. The tests and benchmarks run podiums on
# it when BUZZLINE_MICROPYTHON names it (docs/firmware.md, "A 32-bit interpreter").
#
#   sh firmware/tools/micropython32.sh MICROPYTHON_SOURCE_DIR [OUT_DIR]
#
# MICROPYTHON_SOURCE_DIR: a checkout of https://github.com/micropython/micropython (no
# submodules needed). Needs gcc with 32-bit support (Debian: apt-get install gcc-multilib).
# Prints the path of the interpreter it built.
set -eu

if [ $# -lt 1 ] || [ ! -f "$1/ports/unix/Makefile" ]; then
    echo "micropython32: give a MicroPython source checkout (its ports/unix/Makefile was not found)" >&2
    exit 2
fi
src=$(cd "$1" && pwd)
out=${2:-$src/ports/unix/build-podium32}
mkdir -p "$out" && out=$(cd "$out" && pwd)

probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
echo 'int main(void){return 0;}' > "$probe/t.c"
if ! gcc -m32 "$probe/t.c" -o "$probe/t" 2>/dev/null; then
    echo "micropython32: gcc cannot build 32-bit programs here (Debian: apt-get install gcc-multilib)" >&2
    exit 2
fi

# Only asyncio is frozen in, as in the port's standard build; the modules that come from
# micropython-lib (mip, ssl) are left out, so its submodule is not needed, only a stand-in dir.
echo 'include("$(MPY_DIR)/extmod/asyncio")' > "$probe/manifest.py"
mkdir -p "$probe/lib" && : > "$probe/lib/README.md"

make -s -C "$src/mpy-cross" -j2 >&2
make -s -C "$src/ports/unix" -j2 VARIANT=standard BUILD="$out" \
    CFLAGS_EXTRA=-m32 LDFLAGS_EXTRA=-m32 \
    MICROPY_PY_FFI=0 MICROPY_PY_BTREE=0 MICROPY_PY_SSL=0 MICROPY_SSL_AXTLS=0 MICROPY_SSL_MBEDTLS=0 \
    MICROPY_VFS_LFS1=0 MICROPY_VFS_LFS2=0 \
    FROZEN_MANIFEST="$probe/manifest.py" MPY_LIB_DIR="$probe/lib" >&2
"$out/micropython" -c "import sys; assert sys.maxsize < 1 << 32, 'not a 32-bit build'"
echo "$out/micropython"
