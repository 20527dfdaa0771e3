# ESP32 DevKitC profile: soft IRQ on the button (the only kind the port offers), NeoPixel
# ring or plain LED for the lights. Pin choices avoid strapping and input-only pins.
import network
from machine import Pin, unique_id
from micropython import const

from podium.board.drivers import NeoPixelRing, PlainLed
from podium.board.wifi import WifiLink

BUTTON_PIN = const(27)  # to GND, internal pull-up
NEOPIXEL_PIN = const(25)
LAMP_PIN = const(26)  # arcade button lamp through a logic-level MOSFET


def _pm_off(wlan) -> None:
    wlan.config(pm=network.WLAN.PM_NONE)


class Esp32Board:
    name = "esp32"
    hw = "esp32-devkitc"
    hard_irq = False
    state_dir = "/"

    def __init__(self, local: dict) -> None:
        self.button_pin = Pin(local.get("button_pin", BUTTON_PIN), Pin.IN, Pin.PULL_UP)
        self.light: NeoPixelRing | PlainLed
        pixels = local.get("pixels", 12)
        if pixels:
            self.light = NeoPixelRing(Pin(local.get("neopixel_pin", NEOPIXEL_PIN), Pin.OUT), pixels)
        else:
            self.light = PlainLed(Pin(local.get("lamp_pin", LAMP_PIN), Pin.OUT))
        self.wifi = WifiLink(local.get("ssid", ""), local.get("password", ""), _pm_off)

    def attach_button(self, handler) -> None:
        self.button_pin.irq(handler=handler, trigger=Pin.IRQ_FALLING | Pin.IRQ_RISING)

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


def make_board(local: dict) -> Esp32Board:
    return Esp32Board(local)
