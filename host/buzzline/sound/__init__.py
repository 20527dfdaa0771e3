"""Sound cues: which cue a notice calls for (``cues``), tones made in code (``tones``) and the
mixer that plays them (``player``); the ``sound`` adapter and the viewer use them."""

import os

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")  # pygame's greeting is not ours to print
