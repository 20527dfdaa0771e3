"""I/O below the host service: the MQTT client and inbox, broker launcher and security, event log."""
