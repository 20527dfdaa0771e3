# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
# Kept this small: it is compiled at boot, before anything else is in the heap, and what runs
# before the app shapes the start-up heap (docs/firmware.md). relboot runs a release.
import sys

__import__("podium")  # first: its lifelong buffers at the bottom (bound to no name: relboot swaps it)

try:
    open("fw/cur").close()  # a release came over the network: relboot picks and runs it
    from relboot import run as main
except OSError:
    from podium.app import main
main(sys.argv[1] if len(sys.argv) > 1 else "podium.json")
