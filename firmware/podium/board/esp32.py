# ESP32 DevKitC profile: soft IRQ on the button (the only kind the port offers), NeoPixel
# ring or plain LED for the lights. Pin choices avoid strapping and input-only pins.
import network
from micropython import const

from podium.board.wifiboard import WifiBoard


def _pm_off(wlan) -> None:
    wlan.config(pm=network.WLAN.PM_NONE)


class Esp32Board(WifiBoard):
    name = "esp32"
    hw = "esp32-devkitc"
    hard_irq = False
    BUTTON_PIN = const(27)  # to GND, internal pull-up
    NEOPIXEL_PIN = const(25)
    LAMP_PIN = const(26)  # arcade button lamp through a logic-level MOSFET
    SELFTEST_PIN = const(33)  # jumper to GPIO27 for the capture selftest (hardware/wiring.md)

    def __init__(self, local: dict) -> None:
        super().__init__(local, _pm_off)


def make_board(local: dict) -> Esp32Board:
    return Esp32Board(local)
