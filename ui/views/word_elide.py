"""Conversation titles that end at a word ("How do I reverse the words…"), never mid-word."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics
from PySide6.QtWidgets import QStyledItemDelegate

ELLIPSIS = "…"
LINE_SEPARATOR = "\u2028"
# The item's padding in the stylesheet (8 px a side) and the text's own margins.
ITEM_MARGINS = 24


def elide_at_word(text: str, metrics: QFontMetrics, width: int) -> str:
    """`text` if it fits in `width` pixels, else its longest run of whole words and "…".

    A single word wider than the space is cut where it must be (Qt's own elision)."""
    if metrics.horizontalAdvance(text) <= width:
        return text
    words = text.split()
    while words:
        candidate = " ".join(words).rstrip(",.;:!?-–") + ELLIPSIS
        if metrics.horizontalAdvance(candidate) <= width:
            return candidate
        words.pop()
    return metrics.elidedText(text, Qt.ElideRight, width)


class WordElideDelegate(QStyledItemDelegate):
    """Draws each line of an item's text cut at a word to the item's width."""

    def initStyleOption(self, option, index) -> None:
        super().initStyleOption(option, index)
        width = option.rect.width() - ITEM_MARGINS
        if width > 0 and option.text:
            # Qt has already turned the model's "\n" into LINE SEPARATOR, the mark it draws by.
            lines = option.text.replace(LINE_SEPARATOR, "\n").split("\n")
            option.text = LINE_SEPARATOR.join(elide_at_word(line, option.fontMetrics, width) for line in lines)
