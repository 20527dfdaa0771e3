# Podium entry point: runs at boot on a board; on the unix port pass the config path:
#   MICROPYPATH=.frozen:firmware:protocol micropython firmware/main.py podium.json
import sys

from podium.app import main

main(sys.argv[1] if len(sys.argv) > 1 else "podium.json")
