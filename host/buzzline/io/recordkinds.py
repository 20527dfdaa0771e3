"""The event log's record kinds: every name a log is written with, in one table.

A log is the evidence in a dispute, so its names are part of its format, not of the code: a row's
``kind`` is one of ``ROW_KINDS``, and the class inside it (``type``, or ``__kind__`` in an untyped
position) is named by ``TYPES``, never by ``cls.__name__``. Renaming a class leaves its name
here; a new class that goes into a log gets a new name here; a name is never reused for a
different shape. Changing what a name means, or the tables' layout, bumps ``FORMAT``: a host
refuses a log whose format is newer than its own rather than misread it. A name it does not know
in a log of its own format (a record kind added later) is skipped and counted by replay; an
input of a type it does not know stops a rebuild with the record's number (it cannot replay a
game it cannot read).
"""

from __future__ import annotations

from typing import Any

from buzzline.core import events as ev
from buzzline.core import show as sh
from buzzline.core import types as ty

# Format 1: the tables of io/eventlog.py and the names below (those of Buzzline 0.1.0, whose
# logs tests/test_log_format.py replays from tests/fixtures/).
FORMAT = 1

# A row's ``kind``: what the host service appends.
SHOW = "show"  # {"type": "Show", "show": {...}}: the show the log was started with, first
INPUT = "input"  # {"type": <an input's name>, "event": {...}, "now_us": t}: what the engine was fed
DECISION = "decision"  # {"type": "Decision", "decision": {...}}: written before the winner light
TICK = "tick"  # {"now_us": t}: a timer tick that changed something
ROW_KINDS = (SHOW, INPUT, DECISION, TICK)
# Rows written by ``EventLog.append_obj`` (kind = the object's name), which reports still read.
OBJECT_ROW_KINDS = ("Decision", "DecisionMade", "Decided")

# Stable name -> class, for everything a log holds. Grouped by where it appears.
TYPES: dict[str, type[Any]] = {
    # inputs: the engine's events (core.events.Event), in ``input`` rows
    "PodiumPress": ev.PodiumPress,
    "PodiumWatermark": ev.PodiumWatermark,
    "PodiumOnline": ev.PodiumOnline,
    "PodiumOffline": ev.PodiumOffline,
    "PodiumHello": ev.PodiumHello,
    "Command": ev.Command,
    "HostResumed": ev.HostResumed,
    # decisions and what they hold
    "Decision": ty.Decision,
    "RingIn": ty.RingIn,
    "FalseStart": ty.FalseStart,
    "Mapping": ty.Mapping,
    "Press": ty.Press,
    # the arbiter's and the engine's effects (``append_obj`` rows, untyped positions)
    "LockAll": ty.LockAll,
    "Decided": ty.Decided,
    "Overturned": ty.Overturned,
    "PressRejected": ty.PressRejected,
    "FalseStarted": ty.FalseStarted,
    "Light": ev.Light,
    "Lock": ev.Lock,
    "Arm": ev.Arm,
    "StateChanged": ev.StateChanged,
    "DecisionMade": ev.DecisionMade,
    "DecisionOverturned": ev.DecisionOverturned,
    "CommandRefused": ev.CommandRefused,
    "FalseStartPenalty": ev.FalseStartPenalty,
    "Judged": ev.Judged,
    "Reopened": ev.Reopened,
    "ScoreChanged": ev.ScoreChanged,
    "TimerStarted": ev.TimerStarted,
    "TimerExpired": ev.TimerExpired,
    "QuestionOver": ev.QuestionOver,
    "Logged": ev.Logged,
    # the show, in the ``show`` row
    "Show": sh.Show,
    "Rules": sh.Rules,
    "Player": sh.Player,
    "Team": sh.Team,
    "Card": sh.Card,
    "Round": sh.Round,
    "Question": sh.Question,
    "AdapterSpec": sh.AdapterSpec,
}
