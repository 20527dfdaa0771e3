"""The pure core: clock model, arbiter and game rules. No I/O; time is passed in."""
