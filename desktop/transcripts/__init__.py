"""Transcripts: export conversations (Markdown, HTML, text, PDF, Parley JSON, ChatGPT JSON)
and import Parley JSON and ChatGPT's conversations.json. No Qt: the PDF writer is passed in
by the UI layer."""

from desktop.transcripts.errors import ImportCancelled, TranscriptError
from desktop.transcripts.export import (
    EXTENSIONS,
    FORMATS,
    JSON_FORMATS,
    Format,
    PdfRenderer,
    export_bytes,
    export_conversations,
    safe_filename,
    with_extension,
)
from desktop.transcripts.importer import (
    ImportProgress,
    ImportReport,
    Transcript,
    import_file,
    read_file,
)
from desktop.transcripts.safejson import MAX_BYTES, MAX_DEPTH

__all__ = [
    "EXTENSIONS",
    "FORMATS",
    "JSON_FORMATS",
    "MAX_BYTES",
    "MAX_DEPTH",
    "Format",
    "ImportCancelled",
    "ImportProgress",
    "ImportReport",
    "PdfRenderer",
    "Transcript",
    "TranscriptError",
    "export_bytes",
    "export_conversations",
    "import_file",
    "read_file",
    "safe_filename",
    "with_extension",
]
