"""The API token of the feedback endpoint: a masked field with Save and Forget, and a line that
says where the token is kept. Shown in Settings ▸ Feedback and in the outbox.

The token never goes through the settings file: it is handed to the
:class:`~desktop.services.feedback_service.FeedbackService`, which keeps it in the system
keychain (or, where there is none, in memory for this session and says so).
"""

from __future__ import annotations

from PySide6.QtCore import QEvent
from PySide6.QtWidgets import QHBoxLayout, QLabel, QLineEdit, QVBoxLayout, QWidget

from desktop.services.feedback_service import FeedbackService
from desktop.ui.feedback_dialog import describe, plain_button
from desktop.ui.theme import ROLE_NOTICE, ROLE_PROPERTY


class TokenEditor(QWidget):
    def __init__(self, service: FeedbackService, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.service = service
        self.setAccessibleName("API token")
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.EchoMode.Password)
        describe(self.token, "API token", "The token the endpoint gave you. It is not shown.")
        self.save_token = plain_button("Save &token")
        describe(self.save_token, "Save token", "Keep the token in the system keychain.")
        self.forget_token = plain_button("&Forget token")
        describe(self.forget_token, "Forget token", "Remove the token for this endpoint.")
        row.addWidget(self.token, 1)
        row.addWidget(self.save_token)
        row.addWidget(self.forget_token)
        outer.addLayout(row)
        self.token_notice = QLabel()
        self.token_notice.setWordWrap(True)
        self.token_notice.setProperty(ROLE_PROPERTY, ROLE_NOTICE)
        outer.addWidget(self.token_notice)

        self.save_token.clicked.connect(self._save)
        self.token.returnPressed.connect(self._save)
        self.forget_token.clicked.connect(service.forget_token)
        self.token.textChanged.connect(self._enable)
        service.outbox_changed.connect(self.refresh)
        # The token belongs to an endpoint: typing another address changes what is shown.
        unsubscribe = service.settings.subscribe(
            lambda _change: self.refresh(), keys=["submission.endpoint"]
        )
        self.destroyed.connect(lambda *_: unsubscribe())
        self.refresh()

    def refresh(self) -> None:
        endpoint = self.service.config().endpoint
        tokens = self.service.tokens
        has_token = bool(endpoint) and tokens.has_token(endpoint)
        self.token.setEnabled(bool(endpoint))
        if not endpoint:
            self.token.setPlaceholderText("Set the endpoint address first")
        elif has_token:
            where = "in the keychain" if tokens.persistent else "for this session"
            self.token.setPlaceholderText(f"Token set {where}; type to replace")
        else:
            self.token.setPlaceholderText("API token")
        self.forget_token.setEnabled(has_token)
        self._fit()
        self._enable()
        self.token_notice.setText(tokens.notice or "")
        self.token_notice.setVisible(bool(tokens.notice))

    def _fit(self) -> None:
        """Wide enough for what its placeholder says (at large text sizes the two buttons
        beside it squeezed it to "API…")."""
        metrics = self.token.fontMetrics()
        said = metrics.horizontalAdvance(self.token.placeholderText())
        # at most 36 characters wide: at large text sizes its buttons must fit beside it
        self.token.setMinimumWidth(
            min(said + 3 * metrics.averageCharWidth(), 36 * metrics.averageCharWidth())
        )

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802 (Qt override)
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange:
            self._fit()

    def _enable(self) -> None:
        self.save_token.setEnabled(self.token.isEnabled() and bool(self.token.text().strip()))

    def _save(self) -> None:
        text = self.token.text().strip()
        if not text or not self.service.config().endpoint:
            return
        self.service.set_token(text)
        self.token.clear()
        self.refresh()
