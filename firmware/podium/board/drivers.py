# Light drivers for real boards: a NeoPixel ring and a plain (optionally PWM-dimmed) LED.
class NeoPixelRing:
    def __init__(self, pin, count: int) -> None:
        from neopixel import NeoPixel

        self._np = NeoPixel(pin, count)

    def show(self, r: int, g: int, b: int) -> None:
        self._np.fill((r, g, b))
        self._np.write()

    def deinit(self) -> None:
        self.show(0, 0, 0)


class PlainLed:
    """A single LED (e.g. the arcade button's lamp through a MOSFET); brightness by PWM."""

    def __init__(self, pin, pwm: bool = True) -> None:
        self._pwm = None
        self._pin = pin
        if pwm:
            try:
                from machine import PWM

                self._pwm = PWM(pin, freq=1000, duty_u16=0)
            except (ImportError, ValueError, TypeError):
                self._pwm = None

    def show(self, r: int, g: int, b: int) -> None:
        level = max(r, g, b)
        if self._pwm is not None:
            self._pwm.duty_u16(level * 257)
        else:
            self._pin.value(1 if level else 0)

    def deinit(self) -> None:
        self.show(0, 0, 0)
