"""The learning view: nightly toggle and time, Learn now with progress, runs and adapters.

Learning runs in a child process started by the scheduler; this view only reads the
training_runs table on a timer (a cheap query) to show progress. It also watches what the
engine has loaded: a tainted adapter is dropped at once, a newly promoted one is offered.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, QTime, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QFormLayout, QGroupBox,
                               QHBoxLayout, QHeaderView, QLabel, QProgressBar, QPushButton, QScrollArea, QSpinBox,
                               QTableWidget, QTableWidgetItem, QTimeEdit, QVBoxLayout, QWidget)

from app.errors import NocturneError
from app.learning_report import duration, share
from app.run_progress import ProgressEvent, time_left
from app.run_report import Recall, RunReport
from ui.dialogs import show_error
from ui.services import (adapters, current_progress, loaded_adapter_check, run_reports,
                         use_adapter)
from ui.views.learning_report import MorningReport

POLL_RUNNING_MS = 1000  # while a run is going: progress every second
POLL_IDLE_MS = 15000  # otherwise: notice a nightly run starting


def _when(stamp: str | None) -> str:
    return (stamp or "")[:16].replace("T", " ") or "–"


# What the progress row shows between Learn now and the run's first progress event.
STARTING = ProgressEvent("start")


def _kl(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def _measured(value, show) -> str | None:
    """The value as shown, or None (a blank cell) when the run did not measure it: the in-chat
    recall of a rejected adapter, for one."""
    return None if value is None else show(value)


class LearningView(QWidget):
    """Controls and history of learning.

    Args:
        app: the Nocturne instance.
        scheduler: the NightlyScheduler, or None when this build has none.
    """

    adapter_changed = Signal()  # the engine must reload (rollback, Use it now, a tainted adapter)
    adapter_ready = Signal(str)  # a new adapter can be loaded: what to tell the user

    def __init__(self, app, scheduler=None, parent=None):
        super().__init__(parent)
        self.app = app
        self.scheduler = scheduler
        self._running = False
        self._loaded: dict | None = None  # the engine's `loaded` info; None while (re)loading
        self._announced: str | None = None  # the new adapter the user was told about
        self._reports: list[RunReport] = []  # as the last refresh read them
        # Scrolls rather than squeezes: a long morning report never hides the tables below it.
        content = QWidget()
        content.setObjectName("learningContent")
        scroll = QScrollArea()
        scroll.setObjectName("learningScroll")
        scroll.setFrameShape(QScrollArea.NoFrame)
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        layout = QVBoxLayout(content)
        layout.addWidget(self._nightly_box())
        layout.addWidget(self._ready_bar())
        self.report = MorningReport()
        layout.addWidget(self.report, 1)
        tables = QHBoxLayout()
        tables.addWidget(self._runs_box(), 3)
        tables.addWidget(self._adapters_box(), 2)
        layout.addLayout(tables, 1)
        self.poll = QTimer(self, interval=POLL_IDLE_MS)
        self.poll.timeout.connect(self.refresh)
        self.poll.start()
        self.refresh()

    # -- building -----------------------------------------------------------------------------

    def _nightly_box(self) -> QGroupBox:
        box = QGroupBox("Nightly learning")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignLeft | Qt.AlignVCenter)  # level with taller fields
        self.enabled = QCheckBox("Learn from my approved memories every night")
        self.enabled.setAccessibleName("Nightly learning")
        self.enabled.setChecked(self.app.settings.get("learning_enabled"))
        self.enabled.toggled.connect(self.set_enabled)
        self.time = QTimeEdit()
        self.time.setDisplayFormat("HH:mm")
        self.time.setAccessibleName("Time nightly learning runs")
        self.time.setTime(QTime.fromString(self.app.settings.get("learning_time"), "HH:mm"))
        self.time.editingFinished.connect(self._time_changed)
        self.time.setMaximumWidth(110)
        self.minutes = QSpinBox()
        self.minutes.setRange(1, 12 * 60)
        self.minutes.setSuffix(" min")
        self.minutes.setAccessibleName("Training time per night")
        self.minutes.setToolTip("Training is sized to what there is to learn and stops here; "
                                "the check of what was learned comes after.")
        self.minutes.setValue(self.app.settings.get("learning_minutes"))
        self.minutes.editingFinished.connect(self._minutes_changed)  # a bound method: no lambda keeps the view alive
        self.minutes.setMaximumWidth(110)
        form.addRow(self.enabled)
        form.addRow("Runs at:", self.time)
        form.addRow("Training time:", self.minutes)
        self.last_run = QLabel()
        self.next_run = QLabel()
        form.addRow("Last run:", self.last_run)
        form.addRow("Next run:", self.next_run)
        row = QHBoxLayout()
        self.learn_button = QPushButton("Learn now")
        self.learn_button.setAccessibleName("Learn now")
        self.learn_button.clicked.connect(self.learn_now)
        self.progress = QProgressBar()
        self.progress.setAccessibleName("Learning progress")
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel learning")
        self.cancel_button.clicked.connect(self.cancel)
        self.stage = QLabel()
        row.addWidget(self.learn_button)
        row.addWidget(self.progress, 1)
        row.addWidget(self.stage)
        row.addStretch(0)
        row.addWidget(self.cancel_button)
        self.progress.setMinimumWidth(300)
        self.status_line = QLabel()  # why Learn now is unavailable, or what the scheduler decided
        self.status_line.setWordWrap(True)
        row.addWidget(self.status_line, 1)
        form.addRow(row)
        if self.scheduler is None:
            self.learn_button.setToolTip("This build has no learning scheduler.")
        return box

    def _ready_bar(self) -> QWidget:
        """Offers a newly promoted adapter: load it now, or it loads at the next start."""
        self.ready = QWidget()
        row = QHBoxLayout(self.ready)
        row.setContentsMargins(0, 0, 0, 0)
        self.ready_text = QLabel()
        self.ready_text.setWordWrap(True)
        self.ready_text.setAccessibleName("New adapter ready")
        self.use_now_button = QPushButton("Use it now")
        self.use_now_button.setAccessibleName("Use the new adapter now")
        self.use_now_button.clicked.connect(self.use_ready_now)
        row.addWidget(self.ready_text, 1)
        row.addWidget(self.use_now_button)
        self.ready.hide()
        return self.ready

    def _table(self, name: str, headers: list[str]) -> QTableWidget:
        table = QTableWidget(0, len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setAccessibleName(name)
        table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        table.setSelectionBehavior(QAbstractItemView.SelectRows)
        table.setSelectionMode(QAbstractItemView.SingleSelection)
        table.verticalHeader().hide()
        table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        table.horizontalHeader().setStretchLastSection(True)
        # Room for three rows and the header before the view scrolls.
        rows = 3 * table.verticalHeader().defaultSectionSize()
        table.setMinimumHeight(rows + table.horizontalHeader().sizeHint().height() + 2 * table.frameWidth())
        return table

    def _runs_box(self) -> QGroupBox:
        box = QGroupBox("Run history")
        layout = QVBoxLayout(box)
        self.runs = self._table("Run history", ["Started", "Trigger", "Status", "Recall",
                                                "In chat", "Drift", "Time", "Adapter"])
        self.runs_empty = QLabel("No runs yet.")
        layout.addWidget(self.runs)
        layout.addWidget(self.runs_empty)
        return box

    def _adapters_box(self) -> QGroupBox:
        box = QGroupBox("Adapter versions")
        layout = QVBoxLayout(box)
        self.adapters = self._table("Adapter versions", ["Version", "Status", "Recall", "Created"])
        self.adapters.itemSelectionChanged.connect(self._update_use_button)
        self.adapters_empty = QLabel("No adapters yet: Nocturne runs on the base model.")
        self.adapters_empty.setWordWrap(True)
        self.use_button = QPushButton("Use this version")
        self.use_button.setAccessibleName("Use this adapter version")
        self.use_button.clicked.connect(self.use_selected)
        layout.addWidget(self.adapters)
        layout.addWidget(self.adapters_empty)
        layout.addWidget(self.use_button)
        return box

    # -- state --------------------------------------------------------------------------------

    def refresh(self) -> None:
        """Re-read runs, adapters and progress (also called by the poll timer and whenever
        memories change, since that can taint the loaded adapter)."""
        reports = self._reports = run_reports(self.app)
        self._show_runs(reports)
        self._show_adapters(adapters(self.app))
        self.report.show_reports(reports, (self._loaded or {}).get("adapter"))
        current = current_progress(self.app)
        if current is None and self.scheduler is not None and self.scheduler.is_running():
            current = STARTING  # the child is up but has not recorded its run yet
        running = current is not None
        self._show_progress(current)
        if running != self._running:
            self._running = running
            self.poll.setInterval(POLL_RUNNING_MS if running else POLL_IDLE_MS)
        self._check_loaded_adapter()

    def _show_runs(self, reports: list[RunReport]) -> None:
        done = [r for r in reports if r.finished]
        self.last_run.setText(f"{_when(done[0].started_at)} · {done[0].status}" if done else "never")
        self.next_run.setText(self._next_run_text())
        self.runs.setRowCount(len(reports))
        for row, report in enumerate(reports):
            recall = report.recall.adapter if report.recall else None
            cells = [_when(report.started_at), report.trigger, report.status,
                     _measured(recall, share), _measured(report.recall_in_chat, share),
                     _measured(report.drift_kl, _kl), _measured(report.wall_seconds, duration),
                     report.adapter_version or ""]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text or "")
                tip = report.reason or ""
                if text is None:
                    tip = f"Not measured in this run. {tip}".strip()
                item.setToolTip(tip)
                self.runs.setItem(row, column, item)
        self.runs.setVisible(bool(reports))
        self.runs_empty.setVisible(not reports)

    def _next_run_text(self) -> str:
        if not self.app.settings.get("learning_enabled"):
            return "off"
        when = None
        if self.scheduler is not None:
            try:
                when = self.scheduler.next_run_time()
            except Exception:  # a scheduler that is not started has no next run yet
                when = None
        if when is None:
            return f"tonight at {self.app.settings.get('learning_time')}"
        return when.strftime("%Y-%m-%d %H:%M") if hasattr(when, "strftime") else str(when)

    def _show_adapters(self, rows: list[dict]) -> None:
        self._adapter_rows = rows
        self.adapters.setRowCount(len(rows))
        for row, adapter in enumerate(rows):
            recall = Recall.from_value((adapter.get("metrics") or {}).get("recall"))
            cells = [adapter.get("version"), adapter.get("status"),
                     share(recall.adapter if recall else None), _when(adapter.get("created_at"))]
            for column, text in enumerate(cells):
                self.adapters.setItem(row, column, QTableWidgetItem(str(text or "")))
        self.adapters.setVisible(bool(rows))
        self.adapters_empty.setVisible(not rows)
        self._update_use_button()

    def _selected_adapter(self) -> dict | None:
        rows = self.adapters.selectionModel().selectedRows()
        return self._adapter_rows[rows[0].row()] if rows else None

    def _update_use_button(self) -> None:
        adapter = self._selected_adapter()
        # Only clean, inactive versions can be rolled back to (the registry checks again).
        self.use_button.setEnabled(bool(adapter) and adapter.get("status") == "retired")

    def _show_progress(self, event: ProgressEvent | None) -> None:
        self.learn_button.setEnabled(event is None and self.scheduler is not None)
        self.cancel_button.setEnabled(event is not None)
        self.progress.setVisible(event is not None)
        self.status_line.setVisible(event is None)
        if self.scheduler is None:
            self.status_line.setText("This build has no learning scheduler.")
        elif not self.app.settings.get("learning_enabled"):
            self.status_line.setText("Nightly learning is off; Learn now still works.")
        else:
            self.status_line.setText("")
        if event is None:
            self.stage.setText("")
            return
        self.progress.setRange(0, event.total)  # no total yet: a busy indicator
        if event.total:
            self.progress.setValue(min(event.step, event.total))
        self.stage.setText(" · ".join(filter(None, [event.words, time_left(event.eta_seconds)])))

    # -- the engine's adapter -----------------------------------------------------------------

    def set_loaded(self, info: dict | None) -> None:
        """What the engine has loaded (the model queue's `loaded` info), None while loading."""
        self._loaded = info
        self._check_loaded_adapter()
        if info is not None:  # the report says whether chat uses the newest adapter already
            self.report.show_reports(self._reports, info.get("adapter"))  # no second read

    def _check_loaded_adapter(self) -> None:
        if self._loaded is None:
            self.ready.hide()
            return
        check = loaded_adapter_check(self.app, self._loaded)
        if check.must_reload:
            self._loaded = None  # once: the next `loaded` says what the engine has now
            self.ready.hide()
            self.adapter_changed.emit()
            return
        self.ready.setVisible(check.ready is not None)
        if check.ready is not None:
            text = (f"A new adapter, {check.ready}, is ready. Use it now, or it loads the next "
                    "time Nocturne starts.")
            self.ready_text.setText(text)
            if check.ready != self._announced:  # once per version, wherever the user is
                self._announced = check.ready
                self.adapter_ready.emit(text)

    def use_ready_now(self) -> None:
        """Swap the new adapter in (the engine reloads off the UI thread)."""
        self._loaded = None
        self.ready.hide()
        self.adapter_changed.emit()

    # -- actions ------------------------------------------------------------------------------

    def set_enabled(self, enabled: bool) -> None:
        """Switch nightly learning on or off (saved at once)."""
        self._save("learning_enabled", enabled)

    def _minutes_changed(self) -> None:
        self._save("learning_minutes", self.minutes.value())

    def _time_changed(self) -> None:
        self._save("learning_time", self.time.time().toString("HH:mm"))

    def _save(self, key: str, value) -> None:
        try:
            self.app.settings.set(key, value)
            if self.scheduler is not None:
                self.scheduler.apply_settings()
        except NocturneError as exc:
            show_error(self, exc)
        self.next_run.setText(self._next_run_text())

    def learn_now(self) -> None:
        if self.scheduler is None:
            return
        try:
            self.scheduler.run_now()
        except NocturneError as exc:
            show_error(self, exc)
        self._running = False  # force the poll to switch to the fast interval
        self.refresh()

    def cancel(self) -> None:
        if self.scheduler is not None:
            try:
                self.scheduler.cancel_run()
            except NocturneError as exc:
                show_error(self, exc)
        self.refresh()

    def use_selected(self) -> None:
        adapter = self._selected_adapter()
        if adapter is None:
            return
        try:
            use_adapter(self.app, adapter["version"])
        except NocturneError as exc:
            show_error(self, exc)
            return
        self._loaded = None
        self.refresh()
        self.adapter_changed.emit()
