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
# the podium has since left (a replay of old traffic).
R_DUPLICATE = "duplicate"
R_REPLAY = "replay"
R_SPOOF = "spoof"


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
    boot: int
    next_seq: int
    old_boots: set[int] = field(default_factory=set)


class Ingest:
    """Validates upstream podium traffic for one studio."""

    def __init__(self, studio: str) -> None:
        self.studio = studio
        self.rejects: Counter[str] = Counter()
        self.accepted = 0
        self._seq: dict[str, _SeqState] = {}

    def _reject(self, reason: str, detail: str, topic: str, podium: str | None = None) -> Rejected:
        self.rejects[reason] += 1
        return Rejected(reason, detail, topic, podium)

    def accept(self, topic: str, payload: bytes) -> Accepted:
        try:
            pid, leaf = topics.parse_podium(self.studio, topic)
        except codec.ProtocolError as e:
            raise self._reject(e.reason, e.detail, topic) from None
        if leaf not in topics.UPSTREAM or pid == topics.ALL:
            raise self._reject(codec.R_TOPIC, "not an upstream topic", topic, pid)
        try:
            msg = codec.decode(payload)
            topics.check_kind(leaf, msg["t"])
        except codec.ProtocolError as e:
            raise self._reject(e.reason, e.detail, topic, pid) from None
        if msg["id"] != pid:
            raise self._reject(R_SPOOF, f"payload id {msg['id']!r} on the topic of {pid!r}", topic, pid)
        gap = 0
        new_boot = False
        if leaf == "up":
            gap, new_boot = self._check_seq(pid, msg, topic)
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
        if seq < st.next_seq:
            raise self._reject(R_DUPLICATE, f"seq {seq} of {pid} already seen", topic, pid)
        gap = seq - st.next_seq
        st.next_seq = seq + 1
        return gap, False

    def forget(self, pid: str) -> None:
        self._seq.pop(pid, None)
