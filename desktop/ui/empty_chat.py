"""What a chat with no messages shows: examples to start from, and what the model can and cannot
do (after the launch page of ChatGPT's research preview: examples, capabilities, limitations)."""

from __future__ import annotations

from html import escape

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from desktop.ui.message_view import accessible

MAX_WIDTH = 720
EXAMPLES = (
    "Explain quantum computing in simple terms",
    "Got any creative ideas for a 10 year old's birthday?",
    "How do I read a CSV file in Python?",
)
CAPABILITIES = (
    "Remembers what you said earlier in the conversation",
    "Takes corrections: edit any message or regenerate an answer, and every version is kept",
    "Runs on this computer: nothing you type leaves it",
)
LIMITATIONS = (
    "May make up facts, and a small model does so often",
    "May produce harmful or biased content: rate such an answer Bad to flag it",
    "Knows nothing after its training data and cannot look anything up",
)


def _column(heading: str, items: tuple[str, ...]) -> QLabel:
    rows = "".join(f"<li>{escape(item)}</li>" for item in items)
    label = QLabel(f"<b>{escape(heading)}</b><ul style='margin-left: -20px'>{rows}</ul>")
    label.setWordWrap(True)
    label.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
    label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    accessible(label, heading, " ".join(items))
    return label


class EmptyChat(QWidget):
    """Signals ``example_chosen(str)``: the user picked an example to start from."""

    example_chosen = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        accessible(self, "New chat", "A chat with no messages yet")
        outer = QHBoxLayout(self)
        outer.addStretch(1)
        middle = QWidget(self)
        middle.setMaximumWidth(MAX_WIDTH)  # lines stay readable on a wide window
        column = QVBoxLayout(middle)
        outer.addWidget(middle, 8)
        outer.addStretch(1)
        column.addStretch(2)
        title = QLabel("<h2>What can I help with?</h2>")
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        accessible(title, "What can I help with?")
        column.addWidget(title)
        try_label = QLabel("<b>Try asking</b>")
        accessible(try_label, "Try asking")
        column.addWidget(try_label)
        self.example_buttons: list[QPushButton] = []
        for example in EXAMPLES:
            button = QPushButton(f"“{example}” →")
            button.setAutoDefault(False)
            button.setStyleSheet("text-align: left; padding: 6px 10px;")
            # a narrow window (or a split pane) clips the text rather than growing the pane
            button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
            button.setMinimumWidth(120)
            accessible(button, f"Example: {example}", "Put this question in the message box")
            button.clicked.connect(lambda _=False, text=example: self.example_chosen.emit(text))
            column.addWidget(button)
            self.example_buttons.append(button)
        columns = QHBoxLayout()
        columns.setSpacing(24)
        self.capabilities = _column("What it can do", CAPABILITIES)
        self.limitations = _column("Keep in mind", LIMITATIONS)
        columns.addWidget(self.capabilities, 1)
        columns.addWidget(self.limitations, 1)
        column.addSpacing(12)
        column.addLayout(columns)
        column.addStretch(3)
