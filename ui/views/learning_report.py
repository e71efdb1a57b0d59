"""The morning report of the last run, and a small chart of recall over the nights."""

from __future__ import annotations

from PySide6.QtCharts import QBarCategoryAxis, QChart, QChartView, QLineSeries, QValueAxis
from PySide6.QtCore import QMargins, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QLabel, QVBoxLayout

CHART_NIGHTS = 14


def percent(value) -> str:
    """0.8 -> "80%"; already a percentage (> 1) stays; None -> "–"."""
    if not isinstance(value, (int, float)):
        return "–"
    return f"{value * 100:.0f}%" if value <= 1 else f"{value:.0f}%"


def number(value, digits: int = 3) -> str:
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else "–"


def report_text(run: dict) -> str:
    """The run's morning report as Markdown (what was learned, recall, drift)."""
    metrics = run.get("metrics") or {}
    report = metrics.get("report")
    lines = [f"**{run.get('status', '').capitalize()}** run of {(run.get('started_at') or '')[:16]}"
             .replace("T", " ")]
    if isinstance(report, str) and report.strip():
        lines.append(report.strip())
    elif isinstance(report, dict):
        lines += [f"- {key.replace('_', ' ')}: {value}" for key, value in report.items()]
    elif isinstance(report, list):
        lines += [f"- {item}" for item in report]
    lines.append(f"Recall from the weights: **{percent(metrics.get('recall'))}** · "
                 f"drift from the base model: **{number(metrics.get('drift'))}**")
    if run.get("adapter_version"):
        lines.append(f"Adapter: {run['adapter_version']}")
    return "\n\n".join(lines)


class MorningReport(QGroupBox):
    """Shows the last run's report, the recall chart, or an empty state."""

    def __init__(self, parent=None):
        super().__init__("Morning report", parent)
        layout = QHBoxLayout(self)
        self.text = QLabel()
        self.text.setTextFormat(Qt.MarkdownText)
        self.text.setWordWrap(True)
        self.text.setAlignment(Qt.AlignTop | Qt.AlignLeft)
        self.text.setAccessibleName("Morning report")
        self.text.setTextInteractionFlags(Qt.TextSelectableByMouse | Qt.TextSelectableByKeyboard)
        layout.addWidget(self.text, 1)
        self.chart = QChart()
        self.chart.legend().hide()
        self.chart.setTitle("Recall over nights")
        self.chart.setMargins(QMargins(4, 4, 4, 4))
        self.chart_view = QChartView(self.chart)
        self.chart_view.setRenderHint(QPainter.Antialiasing)
        self.chart_view.setAccessibleName("Chart of recall over nights")
        self.chart_view.setMinimumSize(320, 180)
        chart_box = QVBoxLayout()
        chart_box.addWidget(self.chart_view)
        layout.addLayout(chart_box, 1)

    def show_runs(self, runs: list[dict]) -> None:
        """Update from training runs, newest first."""
        finished = [r for r in runs if r.get("status") not in ("running", None)]
        if not finished:
            self.text.setText("No learning runs yet.\n\nNocturne learns at night from your "
                              "approved memories, or now with **Learn now**.")
            self.chart_view.hide()
            return
        self.text.setText(report_text(finished[0]))
        self._plot([r for r in reversed(finished)
                    if isinstance((r.get("metrics") or {}).get("recall"), (int, float))])

    def _plot(self, runs: list[dict]) -> None:
        runs = runs[-CHART_NIGHTS:]
        self.chart.removeAllSeries()
        for axis in self.chart.axes():
            self.chart.removeAxis(axis)
        if not runs:
            self.chart_view.hide()
            return
        series = QLineSeries()
        series.setPointsVisible(True)
        for x, run in enumerate(runs):
            recall = run["metrics"]["recall"]
            series.append(x, recall * 100 if recall <= 1 else recall)
        self.chart.addSeries(series)
        nights = QBarCategoryAxis()
        nights.append([(r.get("started_at") or "")[5:10] or str(i) for i, r in enumerate(runs)])
        recall = QValueAxis()
        recall.setRange(0, 100)
        recall.setLabelFormat("%d%%")
        recall.setTickCount(3)
        self.chart.addAxis(nights, Qt.AlignBottom)
        self.chart.addAxis(recall, Qt.AlignLeft)
        series.attachAxis(nights)
        series.attachAxis(recall)
        self.chart_view.show()
