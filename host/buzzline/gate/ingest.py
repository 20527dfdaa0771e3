"""Gatekeeper for everything podiums publish: decode, validate, check the sender, drop repeats.

Pure (no I/O): the MQTT bridge hands it (topic, payload) and gets back an accepted message
or a ``Rejected`` carrying a reason code. Every reject is counted by reason so the console
and the logs can show what the studio network is throwing at the host.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from buzzline_protocol import codec, topics

# Reasons beyond the codec's: a repeat of (podium, boot, seq), or a message from a boot
# the podium has since left (a replay of old traffic), or a sync/presence from a boot that has
# not started yet (its first ``up`` message, the hello, has not arrived: normal at a reboot).
R_DUPLICATE = "duplicate"
R_REPLAY = "replay"
R_SPOOF = "spoof"
R_FLOOD = "flood"
R_EARLY = "early"
# Reasons that are part of normal operation: counted, not reported as errors.
QUIET = frozenset({R_DUPLICATE, R_EARLY})


class Rejected(Exception):
    def __init__(self, reason: str, detail: str, topic: str, podium: str | None = None) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.topic = topic
        self.podium = podium


@dataclass(frozen=True, slots=True)
class Accepted:
    podium: str
    leaf: str
    msg: dict[str, Any]
    # set when this up message skipped sequence numbers (the podium dropped or we missed some)
    gap: int = 0
    # set when this message is the first of a new boot of the podium
    new_boot: bool = False


@dataclass
class _SeqState:
    boot: int  # the live boot: the one whose messages change the host's state
    next_seq: int | None  # None until the live boot's first ``up`` message
    old_boots: set[int] = field(default_factory=set)
    # buzz token bucket: a person presses a few times a second, a broken contact or a rogue
    # client hundreds; the excess is refused before it reaches the log and the arbiter
    tokens: float = 0.0
    refilled_us: int = 0


class Ingest:
    """Validates upstream podium traffic for one studio."""

    BUZZ_BURST = 10  # buzzes a podium may send at once
    BUZZ_RATE = 10.0  # and then per second

    def __init__(self, studio: str) -> None:
        self.studio = studio
        self.rejects: Counter[str] = Counter()
        self.reported = 0  # rejects that are reported (not QUIET): the `n` of each reject report
        self.accepted = 0
        self._seq: dict[str, _SeqState] = {}

    def _reject(self, reason: str, detail: str, topic: str, podium: str | None = None) -> Rejected:
        self.rejects[reason] += 1
        if reason not in QUIET:
            self.reported += 1
        return Rejected(reason, detail, topic, podium)

    def accept(self, topic: str, payload: bytes, now_us: int = 0) -> Accepted:
        try:
            pid, leaf = topics.parse_podium(self.studio, topic)
        except codec.ProtocolError as e:
            raise self._reject(e.reason, e.detail, topic) from None
        if leaf not in topics.UPSTREAM or pid == topics.ALL:
            raise self._reject(codec.R_TOPIC, "not an upstream topic", topic, pid)
        if len(payload) > codec.MAX_SIZE:  # no podium kind is larger: refused unparsed
            raise self._reject(codec.R_SIZE, f"{len(payload)} bytes from a podium", topic, pid)
        try:
            msg = codec.decode(payload)
            topics.check_kind(leaf, msg["t"])
        except codec.ProtocolError as e:
            raise self._reject(e.reason, e.detail, topic, pid) from None
        if msg["id"] != pid:
            raise self._reject(R_SPOOF, f"payload id {msg['id']!r} on the topic of {pid!r}", topic, pid)
        gap = 0
        new_boot = False
        if leaf != "up":
            self._check_boot(pid, msg, topic)
        else:
            gap, new_boot = self._check_seq(pid, msg, topic)
            if msg["t"] == "buzz" and not self._take_token(pid, now_us):
                # counted in sequence already: the next message is no gap
                raise self._reject(
                    R_FLOOD, f"{pid} sends buzzes faster than {self.BUZZ_RATE:g}/s", topic, pid
                )
        self.accepted += 1
        return Accepted(pid, leaf, msg, gap, new_boot)

    def _check_seq(self, pid: str, msg: dict[str, Any], topic: str) -> tuple[int, bool]:
        boot, seq = msg["b"], msg["seq"]
        st = self._seq.get(pid)
        if st is None:
            self._seq[pid] = _SeqState(boot, seq + 1)
            return 0, True
        if boot != st.boot:
            if boot in st.old_boots:
                raise self._reject(R_REPLAY, f"boot {boot} of {pid} has ended", topic, pid)
            st.old_boots.add(st.boot)
            st.boot = boot
            st.next_seq = seq + 1
            return 0, True
        if st.next_seq is None:  # the boot was adopted from a sync or presence
            st.next_seq = seq + 1
            return 0, True
        if seq < st.next_seq:
            raise self._reject(R_DUPLICATE, f"seq {seq} of {pid} already seen", topic, pid)
        gap = seq - st.next_seq
        st.next_seq = seq + 1
        return gap, False

    def _check_boot(self, pid: str, msg: dict[str, Any], topic: str) -> None:
        """The replay rule for ``sync`` and ``presence``: only the live boot changes state.

        A boot starts on ``up`` (its hello, seq 0), the one ordered, numbered leaf; a sync or a
        presence can neither start one nor end one. The live boot is adopted from them only when
        the host knows none (it started after the podium). So a left boot's sync (which would
        restart the live clock model) and a late last will (which would mark the live podium
        offline) are dropped; so is a new boot's presence or sync that overtakes its hello.
        """
        boot = msg.get("b")
        if boot is None:  # a presence without a boot nonce: nothing to check it against
            return
        st = self._seq.get(pid)
        if st is None:
            self._seq[pid] = _SeqState(boot, None)
            return
        if boot == st.boot:
            return
        if boot in st.old_boots:
            raise self._reject(R_REPLAY, f"boot {boot} of {pid} has ended", topic, pid)
        raise self._reject(
            R_EARLY, f"boot {boot} of {pid} has not said hello (live boot {st.boot})", topic, pid
        )

    def _take_token(self, pid: str, now_us: int) -> bool:
        st = self._seq[pid]
        if st.refilled_us == 0:
            st.tokens, st.refilled_us = float(self.BUZZ_BURST), now_us or 1
        elif now_us > st.refilled_us:
            st.tokens = min(
                float(self.BUZZ_BURST), st.tokens + (now_us - st.refilled_us) * self.BUZZ_RATE / 1e6
            )
            st.refilled_us = now_us
        if st.tokens < 1.0:
            return False
        st.tokens -= 1.0
        return True

    def forget(self, pid: str) -> None:
        self._seq.pop(pid, None)
