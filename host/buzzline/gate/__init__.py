"""The pure gate between the wire and the core: ingest (decode, validate, dedup), the podium table
and the bridge (accepted messages → core events; effects → wire messages and notice events).
No I/O and no clock: the host service hands it each inbound message with the time."""
