# What the Wi-Fi boards (ESP32, Pico W) share: a button pin with an IRQ on both edges, a
# NeoPixel ring or a plain lamp, and a Wi-Fi link with power saving off. A profile sets its
# pins, its IRQ kind and how to switch power saving off.
from machine import Pin, unique_id

from podium.board.drivers import NeoPixelRing, PlainLed
from podium.board.wifi import WifiLink


class WifiBoard:
    name = ""
    hw = ""
    hard_irq = False
    state_dir = "/"
    BUTTON_PIN = 0
    NEOPIXEL_PIN = 0
    LAMP_PIN = 0
    SELFTEST_PIN = 0  # wired to BUTTON_PIN by a jumper for the capture selftest only

    def __init__(self, local: dict, pm_off) -> None:
        self.local = local
        self.button_pin = Pin(local.get("button_pin", self.BUTTON_PIN), Pin.IN, Pin.PULL_UP)
        self.light: NeoPixelRing | PlainLed
        pixels = local.get("pixels", 12)
        if pixels:
            self.light = NeoPixelRing(Pin(local.get("neopixel_pin", self.NEOPIXEL_PIN), Pin.OUT), pixels)
        else:
            self.light = PlainLed(Pin(local.get("lamp_pin", self.LAMP_PIN), Pin.OUT))
        self.wifi = WifiLink(local.get("ssid", ""), local.get("password", ""), pm_off)

    def selftest_output(self):
        """The output the capture selftest toggles (idle high, like the pulled-up button)."""
        return Pin(self.local.get("selftest_pin", self.SELFTEST_PIN), Pin.OUT, value=1)

    def attach_button(self, handler) -> None:
        trigger = Pin.IRQ_FALLING | Pin.IRQ_RISING
        if self.hard_irq:
            self.button_pin.irq(handler=handler, trigger=trigger, hard=True)
        else:
            self.button_pin.irq(handler=handler, trigger=trigger)

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
