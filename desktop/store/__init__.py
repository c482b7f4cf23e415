"""Local chat history in SQLite: conversations, message trees, full-text search. No Qt."""

from desktop.store.errors import (
    DatabaseCorrupt,
    DatabaseLocked,
    DatabaseMoveError,
    DatabaseTooNew,
    DatabaseUnavailable,
    DiskFull,
    HistoryFolderMissing,
    KnownError,
    NotFoundError,
    StoreError,
)
from desktop.store.grouping import group_for_sidebar
from desktop.store.models import (
    Conversation,
    ConversationSummary,
    FinalStatus,
    Folder,
    Message,
    Role,
    SearchHit,
    Siblings,
    SidebarGroup,
    Status,
    ThreadEntry,
)
from desktop.store.store import DEFAULT_FILENAME, Store, default_path

__all__ = [
    "DEFAULT_FILENAME",
    "Conversation",
    "ConversationSummary",
    "DatabaseCorrupt",
    "DatabaseLocked",
    "DatabaseMoveError",
    "DatabaseTooNew",
    "DatabaseUnavailable",
    "DiskFull",
    "FinalStatus",
    "Folder",
    "HistoryFolderMissing",
    "KnownError",
    "Message",
    "NotFoundError",
    "Role",
    "SearchHit",
    "Siblings",
    "SidebarGroup",
    "Status",
    "Store",
    "StoreError",
    "ThreadEntry",
    "default_path",
    "group_for_sidebar",
]
