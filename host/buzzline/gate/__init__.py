"""The pure gate between the wire and the game: ingest (decode, validate, dedup) and the bridge,
which takes each inbound message once (the podium table, the clock book, the mapping, the engine)
and returns what to send and log. No I/O and no clock: the host service hands it the time."""
