"""What an empty chat shows: what Nocturne is, its three parts, privacy, and prompts to try."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (QFrame, QGridLayout, QLabel, QPushButton, QVBoxLayout, QWidget)

FEATURES = (
    ("Chat", "Ask anything. A model running on this computer answers, streaming as it writes."),
    ("Memories", "Say “remember that …” or click Remember this on a message. You review, "
                 "edit and delete what it keeps in the Memories tab."),
    ("Nightly learning", "While you sleep, Nocturne trains a small add-on to the model on your "
                         "approved memories, so it knows them without being told."),
)
PRIVACY = ("Private by design: your chats, memories and training stay on this computer. No "
           "account, no cloud: Nocturne goes online only to download a model you ask for.")
SUGGESTIONS = (
    "Write a haiku about the night sky.",
    "Give me three tips for sleeping better.",
    "Explain what a computer's memory does, in two sentences.",
)


def _label(text: str, name: str, wrap: bool = True) -> QLabel:
    label = QLabel(text)
    label.setObjectName(name)
    label.setWordWrap(wrap)
    return label


class WelcomePane(QWidget):
    """Shown in an empty chat. Emits `prompt_chosen` with a suggestion's text when clicked."""

    prompt_chosen = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("welcome")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 36, 8, 12)
        layout.setSpacing(14)
        layout.addWidget(_label("Nocturne", "welcomeTitle"))
        layout.addWidget(_label("A private assistant that gets to know you, and learns it "
                                "overnight on this computer.", "welcomeLead"))
        cards = QGridLayout()
        cards.setSpacing(10)
        for column, (title, text) in enumerate(FEATURES):
            card = QFrame()
            card.setObjectName("featureCard")
            inner = QVBoxLayout(card)
            inner.setContentsMargins(14, 12, 14, 12)
            inner.addWidget(_label(title, "featureTitle"))
            inner.addWidget(_label(text, "featureText"))
            inner.addStretch(1)
            cards.addWidget(card, 0, column)
        layout.addLayout(cards)
        layout.addWidget(_label(PRIVACY, "privacyLine"))
        layout.addSpacing(6)
        layout.addWidget(_label("Try one of these, or write your own below:", "emptyHint"))
        self.suggestion_buttons: list[QPushButton] = []
        for text in SUGGESTIONS:
            button = QPushButton(text)
            button.setObjectName("suggestion")
            button.setAccessibleName(f"Ask: {text}")
            button.setCursor(Qt.PointingHandCursor)
            button.clicked.connect(lambda _=False, t=text: self.prompt_chosen.emit(t))
            layout.addWidget(button)
            self.suggestion_buttons.append(button)
