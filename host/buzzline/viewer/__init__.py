"""The viewer screen: a pygame scoreboard (in the host as the ``viewer`` adapter, or standalone
with ``buzzline viewer``) and the browser overlay for OBS, both drawn from one scene model."""

import os

# pygame greets on import; a studio screen's log has no use for it
os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
