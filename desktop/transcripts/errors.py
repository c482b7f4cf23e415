"""The one error a user sees when a transcript cannot be read or written."""

from __future__ import annotations

from desktop.store.errors import KnownError


class TranscriptError(KnownError):
    """A file that cannot be imported (malformed, too large, too deeply nested, hostile) or
    an export that cannot be written. The message is one line naming the file and the
    reason; nothing was changed."""


class ImportCancelled(TranscriptError):  # noqa: N818 (reads as what happened)
    """The user stopped an import; nothing was imported."""
