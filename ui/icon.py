"""The app's icons, drawn in code (a crescent moon) so no image file has to ship.

The app icon is a coloured tile that reads on light and dark backgrounds alike; the tray icon
is a bare crescent, so it comes in two inks: dark for light panels, light for dark ones.
"""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPixmap

SIZES = (16, 22, 32, 48, 64, 128, 256)
TILE = "#2b2f5c"
MOON = "#f5d67b"
TRAY_INK_ON_LIGHT = "#2b2f5c"
TRAY_INK_ON_DARK = "#f1f1f6"


def _crescent(size: float, inset: float) -> QPainterPath:
    moon = QPainterPath()
    moon.addEllipse(QRectF(inset, inset, size - 2 * inset, size - 2 * inset))
    bite = QPainterPath()
    span = (size - 2 * inset) * 0.9
    bite.addEllipse(QRectF(size * 0.38, inset * 0.4, span, span))
    return moon.subtracted(bite)


def _icon(draw) -> QIcon:
    icon = QIcon()
    for size in SIZES:
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(Qt.NoPen)
        draw(painter, size)
        painter.end()
        icon.addPixmap(pixmap)
    return icon


def app_icon() -> QIcon:
    """A gold crescent on a night-blue rounded tile."""
    def draw(painter: QPainter, size: int) -> None:
        painter.setBrush(QColor(TILE))
        painter.drawRoundedRect(QRectF(0, 0, size, size), size * 0.24, size * 0.24)
        painter.setBrush(QColor(MOON))
        painter.drawPath(_crescent(size, size * 0.2))
    return _icon(draw)


def tray_icon(dark_panel: bool) -> QIcon:
    """A plain crescent in the ink that contrasts with the panel it sits on."""
    ink = QColor(TRAY_INK_ON_DARK if dark_panel else TRAY_INK_ON_LIGHT)

    def draw(painter: QPainter, size: int) -> None:
        painter.setBrush(ink)
        painter.drawPath(_crescent(size, size * 0.08))
    return _icon(draw)
