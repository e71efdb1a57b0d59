"""The app's icon, drawn in code (a crescent moon) so no image file has to ship."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QIcon, QPainter, QPainterPath, QPixmap


def app_icon() -> QIcon:
    icon = QIcon()
    for size in (16, 22, 32, 48, 64, 128):
        pixmap = QPixmap(size, size)
        pixmap.fill(Qt.transparent)
        painter = QPainter(pixmap)
        painter.setRenderHint(QPainter.Antialiasing)
        painter.setPen(Qt.NoPen)
        painter.setBrush(QColor("#27304a"))
        painter.drawRoundedRect(QRectF(0, 0, size, size), size * 0.22, size * 0.22)
        moon = QPainterPath()
        moon.addEllipse(QRectF(size * 0.18, size * 0.18, size * 0.64, size * 0.64))
        bite = QPainterPath()
        bite.addEllipse(QRectF(size * 0.36, size * 0.08, size * 0.6, size * 0.6))
        painter.setBrush(QColor("#f3d98b"))
        painter.drawPath(moon.subtracted(bite))
        painter.end()
        icon.addPixmap(pixmap)
    return icon
