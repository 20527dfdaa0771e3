"""Firmware updates over the studio network: releases, serving, and the fleet's update state."""
