"""I/O around the core: MQTT bridge, broker launcher, event store."""
