"""Parley: a local ChatGPT for the desktop."""
