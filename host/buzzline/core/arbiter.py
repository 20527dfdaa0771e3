"""Fair arbitration of one question: orders presses by mapped press time, never by arrival.

API CONTRACT (stable; implemented by the timing-core work, consumed by the game engine):

    rules = ArbiterRules(mode="first", tie_rule="earliest", false_start_us=250_000, max_wait_us=..., ...)
    arb = Arbiter(epoch=7, eligible={"p1": "red", "p2": None}, rules=rules, seed=42)
    arb.press(press, now_us)              # reading phase: a press is a false start (250 ms lockout each)
    arb.arm(arm_us, now_us)               # opens the window at arm_us (host time)
    arb.press(press, now_us)              # -> [LockAll(...)] on the first valid arrival, maybe [Decided]
    arb.watermark("p2", seq, mapped_us, now_us)  # an ack or heartbeat heard in sequence: p2 is past mapped_us
    arb.offline("p3", now_us)
    arb.tick(now_us)                      # -> [Decided(...)] when the bounded wait expires
    arb.next_deadline()                   # host time of the next tick that can change anything, or None
    arb.reopen(now_us, exclude={"p1"})    # after an incorrect answer: new window for the others
    arb.close(now_us)                     # stop accepting presses (e.g. the buzz window timed out)

Every method returns ``list[ArbiterEffect]`` and is pure: no I/O, no clocks, no global state;
random tie draws come from ``random.Random(seed)`` and are recorded in the evidence.
"""
