"""Errors a user can act on. Their message is one clear line, shown as is by the CLI and UI."""

from __future__ import annotations


class ConversionError(Exception):
    """The input cannot be converted; the message says why in one line."""


class UnsupportedModelError(ConversionError):
    """Valid file, but an architecture, tensor type or tokenizer Parley does not handle."""
