"""Fenced code in an answer: split from the prose, highlighted with Pygments, with a Copy button."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QToolButton, QVBoxLayout

from ui.style import Theme

# A fence that is still open (the answer is streaming) runs to the end of the text.
FENCE = re.compile(r"```([^\n`]*)\n(.*?)(?:\n?```|\Z)", re.S)
MONOSPACE = "'JetBrains Mono', 'Cascadia Code', 'DejaVu Sans Mono', monospace"


@dataclass(frozen=True)
class Segment:
    kind: str  # "text" (Markdown) or "code"
    text: str
    language: str = ""


def split_segments(text: str) -> list[Segment]:
    """Markdown prose and fenced code blocks, in order (empty prose between them dropped)."""
    segments, at = [], 0
    for match in FENCE.finditer(text):
        if text[at:match.start()].strip():
            segments.append(Segment("text", text[at:match.start()].strip("\n")))
        segments.append(Segment("code", match.group(2).rstrip("\n"), match.group(1).strip()))
        at = match.end()
    if text[at:].strip() or not segments:
        segments.append(Segment("text", text[at:].strip("\n")))
    return segments


def highlight_html(code: str, language: str, theme: Theme) -> str:
    """`code` as HTML with inline colours (Qt's rich text has no CSS classes), wrapping lines."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name, guess_lexer
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(language) if language else guess_lexer(code)
    except ClassNotFound:
        lexer = None
    if lexer is None:
        body = html.escape(code)
    else:
        formatter = HtmlFormatter(style=theme.pygments_style, noclasses=True, nowrap=True)
        body = highlight(code, lexer, formatter).rstrip("\n")
    return (f"<div style=\"white-space: pre-wrap; font-family: {MONOSPACE}; "
            f"color: {theme.text};\">{body}</div>")


class CodeBlock(QFrame):
    """One code block: language, Copy, and the highlighted code (selectable)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("codeBlock")
        self.code = ""
        self.language = ""
        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 6, 8, 10)
        layout.setSpacing(2)
        top = QHBoxLayout()
        self.language_label = QLabel()
        self.language_label.setObjectName("codeLanguage")
        top.addWidget(self.language_label)
        top.addStretch(1)
        self.copy_button = QToolButton()
        self.copy_button.setText("Copy")
        self.copy_button.setAccessibleName("Copy code")
        self.copy_button.setToolTip("Copy this code")
        self.copy_button.clicked.connect(self.copy)
        top.addWidget(self.copy_button)
        layout.addLayout(top)
        self.body = QLabel()
        self.body.setTextFormat(Qt.RichText)
        self.body.setWordWrap(True)
        self.body.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        self.body.setAccessibleName("Code")
        layout.addWidget(self.body)

    def show_code(self, code: str, language: str, theme: Theme) -> None:
        self.code, self.language = code, language
        self.language_label.setText(language or "code")
        self.body.setText(highlight_html(code, language, theme))

    def copy(self) -> None:
        QGuiApplication.clipboard().setText(self.code)
