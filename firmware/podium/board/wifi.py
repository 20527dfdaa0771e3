# Wi-Fi station bring-up shared by the ESP32 and Pico W profiles: waits for the link instead
# of raising, with power saving off (it adds tens of milliseconds of latency per packet).
import asyncio

import network


class WifiLink:
    CONNECT_TIMEOUT_MS = 20000

    def __init__(self, ssid: str, password: str, pm_off) -> None:
        self.ssid = ssid
        self.password = password
        self._pm_off = pm_off
        self.wlan = network.WLAN(network.STA_IF)

    async def up(self) -> None:
        w = self.wlan
        if w.isconnected():
            return
        w.active(True)
        self._pm_off(w)
        w.connect(self.ssid, self.password)
        waited = 0
        while not w.isconnected():
            if waited >= self.CONNECT_TIMEOUT_MS:
                w.disconnect()
                raise OSError("wifi: no link to " + self.ssid)
            await asyncio.sleep_ms(200)
            waited += 200

    def rssi(self):
        try:
            return int(self.wlan.status("rssi"))
        except Exception:
            return None
