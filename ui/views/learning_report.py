"""The morning report of the last run, and a chart of recall over the nights (from RunReports)."""

from __future__ import annotations

from html import escape

from PySide6.QtCharts import QBarCategoryAxis, QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QEvent, QMargins, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout

from app.learning_report import drift_line, duration, general_line, headline, left_out, recall_line
from app.run_report import IN_PROMPT, IN_WEIGHTS, NOT_PROBED, RunReport
from ui.style import current_theme

CHART_NIGHTS = 14


def _html(text: str) -> str:
    return escape(text, quote=False)  # QLabel shows quotes as they are; only <, >, & matter


def night(report: RunReport) -> str:
    """"2025-06-03T03:00:00+00:00" -> "06-03"."""
    return (report.started_at or "")[5:10] or "?"


def report_html(report: RunReport, loaded_adapter: str | None = None) -> str:
    """The run's morning report: what happened, memory by memory, recall, drift, time.

    `loaded_adapter` is the version the engine has loaded (None: none, or still loading)."""
    when = (report.started_at or "")[:16].replace("T", " ")
    parts = [f"<p><b>{_html(headline(report))}</b><br><small>{_html(report.trigger)} run of "
             f"{_html(when)}</small></p>"]
    if report.status == "succeeded" and report.adapter_version == loaded_adapter:
        parts.append("<p>Chat is using this adapter now.</p>")
    elif report.status == "succeeded":
        parts.append("<p>The new adapter loads at the next start, or now with <i>Use it now</i>.</p>")
    # The numbers first: a 100-memory night lists ~100 memories below them.
    for line in (recall_line(report), drift_line(report), general_line(report)):
        if line:
            parts.append(f"<p>{_html(line)}</p>")
    groups = [(IN_WEIGHTS, "In the weights"), (IN_PROMPT, "Still in the prompt"),
              (NOT_PROBED, "Not probed")]
    for outcome, title in groups:
        shown = [m for m in report.memory_results if m.outcome == outcome]
        texts = [m.text + (f" ({why})" if (why := left_out(report, m.memory_id)) else "") for m in shown]
        if texts:
            items = "".join(f"<li>{_html(text)}</li>" for text in texts)
            parts.append(f"<p>{title} ({len(texts)}):</p><ul>{items}</ul>")
    if report.wall_seconds is not None:
        training = (f" (learning itself: {duration(report.training_seconds)})"
                    if report.training_seconds is not None else "")
        parts.append(f"<p>Time taken: {duration(report.wall_seconds)}{training}.</p>")
    if report.starting_point:
        parts.append(f"<p>{_html(report.starting_point)}</p>")
    if report.reading_practice:
        parts.append(f"<p>{_html(report.reading_practice)}</p>")
    return "".join(parts)


class MorningReport(QGroupBox):
    """Shows the last run's report, the recall chart, or an empty state."""

    def __init__(self, parent=None):
        super().__init__("Morning report", parent)
        layout = QHBoxLayout(self)
        self.text = QLabel()
        self.text.setTextFormat(Qt.RichText)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.text.setAccessibleName("Morning report")
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        layout.addWidget(self.text, 1)
        self.chart = QChart()
        self.chart.setTitle("Recall over nights")
        self.chart.setMargins(QMargins(4, 4, 4, 4))
        self.chart_view = QChartView(self.chart)
        self.chart_view.setRenderHint(QPainter.Antialiasing)
        self.chart_view.setAccessibleName("Chart of recall over nights")
        self.chart_view.setMinimumSize(320, 180)
        chart_box = QVBoxLayout()
        chart_box.addWidget(self.chart_view)
        layout.addLayout(chart_box, 1)
        self._style_chart()

    def changeEvent(self, event) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.PaletteChange:  # the OS switched light/dark
            self._style_chart()

    def _style_chart(self) -> None:
        """QtCharts draws in its own colours (white in dark mode too): give it the theme's."""
        t = current_theme()
        self.chart.setBackgroundBrush(QColor(t.surface))
        self.chart.setBackgroundPen(QPen(Qt.NoPen))
        self.chart_view.setBackgroundBrush(QColor(t.surface))
        self.chart.setTitleBrush(QColor(t.text))
        self.chart.legend().setLabelColor(QColor(t.text))
        for axis in self.chart.axes():
            axis.setLabelsColor(QColor(t.muted))
            axis.setGridLineColor(QColor(t.border))
            axis.setLinePenColor(QColor(t.border))
        colours = {"from the weights": t.accent, "base model": t.muted, "in chat": t.success}
        for series in self.chart.series():
            series.setPen(QPen(QColor(colours.get(series.name(), t.text)), 2.5))

    def show_reports(self, reports: list[RunReport], loaded_adapter: str | None = None) -> None:
        """Update from run reports, newest first; `loaded_adapter` is the engine's version."""
        finished = [r for r in reports if r.finished]
        if not finished:
            self.text.setText("<p>No learning runs yet.</p><p>Nocturne learns at night from your "
                              "approved memories, or now with <b>Learn now</b>.</p>")
            self.chart_view.hide()
            return
        self.text.setText(report_html(finished[0], loaded_adapter))
        self._plot([r for r in reversed(finished) if r.recall is not None][-CHART_NIGHTS:])

    def _plot(self, reports: list[RunReport]) -> None:
        self.chart.removeAllSeries()
        for axis in self.chart.axes():
            self.chart.removeAxis(axis)
        if not reports:
            self.chart_view.hide()
            return
        nights = QBarCategoryAxis()
        nights.append([f"{night(r)} #{r.run_id}" for r in reports])
        percent = QValueAxis()
        percent.setRange(0, 100)
        percent.setLabelFormat("%d%%")
        percent.setTickCount(3)
        self.chart.addAxis(nights, Qt.AlignBottom)
        self.chart.addAxis(percent, Qt.AlignLeft)
        lines = [("from the weights", lambda r: r.recall.adapter),
                 ("base model", lambda r: r.recall.base),
                 ("in chat", lambda r: r.recall_in_chat)]
        for name, value in lines:
            points = [(x, value(r)) for x, r in enumerate(reports) if value(r) is not None]
            if not points:
                continue
            series = QLineSeries()
            series.setName(name)
            series.setPointsVisible(True)
            for x, y in points:
                series.append(x, y * 100)
            self.chart.addSeries(series)
            series.attachAxis(nights)
            series.attachAxis(percent)
        self.chart.legend().setVisible(len(self.chart.series()) > 1)
        self._style_chart()
        self.chart_view.show()

