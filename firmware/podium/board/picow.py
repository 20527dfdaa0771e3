# Raspberry Pi Pico W profile: hard IRQ on the button (the RP2040 port offers it), so the
# timestamp is taken within microseconds of the edge even while Python code runs.
import rp2  # type: ignore[import-not-found]  # not in the ESP32 stubs the check uses
from machine import Pin, unique_id
from micropython import const

from podium.board.drivers import NeoPixelRing, PlainLed
from podium.board.wifi import WifiLink

BUTTON_PIN = const(14)  # GP14 to GND, internal pull-up
NEOPIXEL_PIN = const(15)  # GP15
LAMP_PIN = const(13)  # GP13, arcade button lamp through a logic-level MOSFET
_PM_NONE = const(0xA11140)  # CYW43 power management off


def _pm_off(wlan) -> None:
    wlan.config(pm=_PM_NONE)


class PicoWBoard:
    name = "picow"
    hw = "pico-w"
    hard_irq = True
    state_dir = "/"

    def __init__(self, local: dict) -> None:
        rp2.country(local.get("country", "GB"))
        self.button_pin = Pin(local.get("button_pin", BUTTON_PIN), Pin.IN, Pin.PULL_UP)
        self.light: NeoPixelRing | PlainLed
        pixels = local.get("pixels", 12)
        if pixels:
            self.light = NeoPixelRing(Pin(local.get("neopixel_pin", NEOPIXEL_PIN), Pin.OUT), pixels)
        else:
            self.light = PlainLed(Pin(local.get("lamp_pin", LAMP_PIN), Pin.OUT))
        self.wifi = WifiLink(local.get("ssid", ""), local.get("password", ""), _pm_off)

    def attach_button(self, handler) -> None:
        self.button_pin.irq(handler=handler, trigger=Pin.IRQ_FALLING | Pin.IRQ_RISING, hard=True)

    async def net_up(self) -> None:
        await self.wifi.up()

    def rssi(self):
        return self.wifi.rssi()

    def unique_id(self) -> str:
        return "".join("%02x" % b for b in unique_id())

    def tasks(self) -> list:
        return []

    def deinit(self) -> None:
        self.button_pin.irq(handler=None)
        self.light.deinit()


def make_board(local: dict) -> PicoWBoard:
    return PicoWBoard(local)
