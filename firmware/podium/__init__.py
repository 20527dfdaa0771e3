# Buzzline podium firmware: the application package (runs on MicroPython boards and the unix port).
FW_VERSION = "0.1.0"
