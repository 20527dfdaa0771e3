# Raspberry Pi Pico W profile: hard IRQ on the button (the RP2040 port offers it), so the
# timestamp is taken within microseconds of the edge even while Python code runs.
import rp2  # type: ignore[import-not-found]  # not in the ESP32 stubs the check uses
from micropython import const

from podium.board.wifiboard import WifiBoard

_PM_NONE = const(0xA11140)  # CYW43 power management off


def _pm_off(wlan) -> None:
    wlan.config(pm=_PM_NONE)


class PicoWBoard(WifiBoard):
    name = "picow"
    hw = "pico-w"
    hard_irq = True
    BUTTON_PIN = const(14)  # GP14 to GND, internal pull-up
    NEOPIXEL_PIN = const(15)  # GP15
    LAMP_PIN = const(13)  # GP13, arcade button lamp through a logic-level MOSFET
    SELFTEST_PIN = const(16)  # GP16, jumper to GP14 for the capture selftest (hardware/wiring.md)

    def __init__(self, local: dict) -> None:
        rp2.country(local.get("country", "GB"))
        super().__init__(local, _pm_off)


def make_board(local: dict) -> PicoWBoard:
    return PicoWBoard(local)
