"""The Qt binding itself: faults of a PySide6 release that would take the app down."""

from __future__ import annotations

import sys

from PySide6.QtCore import QObject, Signal, Slot


class Source(QObject):
    piece = Signal(int, str)  # as the model's thread streams an answer


class Sink(QObject):
    def __init__(self):
        super().__init__()
        self.count = 0

    @Slot(int, str)
    def take(self, _job: int, _text: str) -> None:
        self.count += 1


def test_emitting_signals_costs_true_no_reference(qapp):
    """PySide6 6.12.0 dropped one reference to True per emit() a slot received; True's count
    reached zero after a few thousand streamed pieces and Python aborted ("bool_dealloc")."""
    source, sink = Source(), Sink()
    source.piece.connect(sink.take)
    before = sys.getrefcount(True)
    for number in range(200):
        source.piece.emit(1, f"piece {number}")
    assert sink.count == 200
    assert sys.getrefcount(True) > before - 20  # 6.12.0: before - 200
