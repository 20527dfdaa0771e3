"""Plug-in adapters (viewer, OSC desks, serial devices), found via the `buzzline.adapters` entry points."""
