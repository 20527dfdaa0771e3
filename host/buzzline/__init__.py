"""Buzzline host: the fair lockout game engine, its MQTT bridge and its tools."""

__version__ = "0.1.0"
