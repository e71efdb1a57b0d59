"""The learning view: the toggle persists, the report a real run wrote shows, progress is in
words with the time left, and the engine's adapter follows what the registry allows."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import QObject, Qt, Slot
from PySide6.QtWidgets import QScrollArea

from app.context import Nocturne
from app.learning_job import run_learning_job
from app.memory_forget import content_sha256
from ondevice.adapters import AdapterRegistry
from tests.learning_helpers import add_memories, write_small_lora
from tests.test_learning_job import FAST
from ui.main_window import MainWindow
from ui.services import memory_service
from ui.views.learning_view import LearningView

MEMORIES = ["My cat is called Miso", "I live in Lyon"]


def test_learning_toggle_persists_across_a_restart_of_the_window(qtbot, nocturne_home):
    app = Nocturne(nocturne_home)
    view = LearningView(app)
    qtbot.addWidget(view)
    assert view.enabled.isChecked()  # the default is on
    view.enabled.click()
    assert not view.enabled.isChecked()
    assert view.next_run.text() == "off"
    view.close()
    app.close()

    reopened = Nocturne(nocturne_home)
    again = LearningView(reopened)
    qtbot.addWidget(again)
    assert not again.enabled.isChecked()
    assert reopened.settings.get("learning_enabled") is False
    reopened.close()


def test_empty_state_when_nothing_was_learned_yet(qtbot, app):
    view = LearningView(app)
    qtbot.addWidget(view)
    view.show()
    assert view.runs_empty.isVisible() and not view.runs.isVisible()
    assert view.adapters_empty.isVisible()
    assert "No learning runs yet" in view.report.text.text()
    assert view.last_run.text() == "never"
    assert not view.learn_button.isEnabled() or view.scheduler is not None


@pytest.mark.timeout(1800)  # two runs of the job (fast trainer): minutes on a busy machine
def test_the_view_shows_the_report_real_runs_wrote_with_progress_in_words(qtbot, app, shared_training_cache):
    add_memories(app, MEMORIES)
    app.settings.set("threads", 1)  # on a busy machine, one thread generates the probes faster
    view = LearningView(app)
    qtbot.addWidget(view)
    view.show()
    seen = []  # what the view showed while the job ran (it reads the row the job writes)

    def watch(event):
        if event.stage in ("train", "evaluate") and event.step == 1:
            view.refresh()
            seen.append((event.stage, view.progress.isVisible(), view.progress.maximum(), view.stage.text()))

    first = run_learning_job(app, on_event=watch, options=FAST)
    second = run_learning_job(app, on_event=watch, options=FAST)
    view.refresh()

    assert not view.progress.isVisible() and view.runs.rowCount() == 2
    # Progress in words; the second run knows the first's stage times, so it shows the time left.
    train = [text for stage, visible, total, text in seen if stage == "train" and visible and total > 1]
    assert len(train) == 2 and all(text.startswith("Learning") for text in train)
    assert "left" not in train[0] and "left" in train[1]
    assert any(text.startswith("Checking recall") for stage, _, _, text in seen if stage == "evaluate")
    assert not any("loss" in text for *_, text in seen)

    # The run history: recall and drift from the reports, not dashes.
    row = {view.runs.horizontalHeaderItem(c).text(): view.runs.item(0, c).text()
           for c in range(view.runs.columnCount())}
    assert row["Status"] == "rejected"
    assert row["Recall"] == f"{second.recall.adapter:.0%}" and row["Drift"] == f"{second.drift_kl:.3f}"
    assert row["Time"].endswith(" s")

    # The morning report: why it was rejected, memory by memory, recall, drift against the gate.
    text = view.report.text.text()
    assert "No new adapter" in text and second.reason in text
    assert "Still in the prompt (2)" in text and all(memory in text for memory in MEMORIES)
    assert f"Recall from the weights alone: {second.recall.adapter:.0%}" in text
    assert f"KL {second.drift_kl:.4f}, under the limit {second.drift_limit:.4f}" in text
    assert "Time taken:" in text and "–" not in text

    # Recall over nights: one point per real run, from its report.
    series = {s.name(): s for s in view.report.chart.series()}
    assert view.report.chart_view.isVisible()
    points = [series["from the weights"].at(i).y() for i in range(series["from the weights"].count())]
    assert points == pytest.approx([first.recall.adapter * 100, second.recall.adapter * 100])
    assert series["base model"].count() == 2 and "in chat" not in series  # not promoted: not measured


@pytest.mark.timeout(1800)  # one run of the job: over 12 minutes on a busy machine
def test_a_deleted_memory_leaves_the_report_it_was_in(qtbot, app, shared_training_cache):
    ids = add_memories(app, MEMORIES)
    run_learning_job(app, options=FAST)
    memory_service(app).delete(ids[0])
    view = LearningView(app)
    qtbot.addWidget(view)
    text = view.report.text.text()
    assert "Miso" not in text and "Still in the prompt (1)" in text and "I live in Lyon" in text


def test_toggle_and_time_reschedule_the_real_nightly_scheduler(qtbot, app):
    from scheduler.nightly import NightlyScheduler

    scheduler = NightlyScheduler(app)  # not started: a test must never launch a learning run
    view = LearningView(app, scheduler)
    qtbot.addWidget(view)
    view.enabled.click()  # off
    assert scheduler.next_run_time() is None and view.next_run.text() == "off"
    view.enabled.click()  # on again
    view.time.setTime(view.time.time().fromString("04:30", "HH:mm"))
    view.time.editingFinished.emit()
    assert app.settings.get("learning_time") == "04:30"
    when = scheduler.next_run_time()
    assert when is not None and (when.hour, when.minute) == (4, 30)
    assert view.next_run.text().endswith("04:30")
    assert view.learn_button.isEnabled()


def test_learn_now_and_cancel_clicked_through_the_view(qtbot, app, tmp_path, monkeypatch):
    """Learn now starts a real child (the fake `nocturne learn` of the scheduler tests, held
    running); the view shows it, and Cancel stops it and records 'cancelled'."""
    from scheduler.nightly import Clock, NightlyScheduler
    from tests.test_scheduler_nightly import FakeLearnLauncher

    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # no OS agent installed
    launcher = FakeLearnLauncher(app.home, Clock(), tmp_path, mode="hold")
    scheduler = NightlyScheduler(app, launcher=launcher)  # not started: only Learn now runs
    view = LearningView(app, scheduler)
    qtbot.addWidget(view)
    view.show()
    try:
        qtbot.mouseClick(view.learn_button, Qt.MouseButton.LeftButton)
        assert launcher.launched and "--scheduled" not in launcher.launched[0]  # no idle checks
        assert view.progress.isVisible() and not view.learn_button.isEnabled()  # at once
        assert view.stage.text() == "Starting"
        qtbot.waitUntil(lambda: view.runs.rowCount() == 1 and view.cancel_button.isEnabled(), timeout=15000)
        assert view.progress.isVisible()

        qtbot.mouseClick(view.cancel_button, Qt.MouseButton.LeftButton)
        assert launcher.wait(30) is not None
        view.refresh()
        assert app.store.query_one("SELECT status FROM training_runs")["status"] == "cancelled"
        assert not view.cancel_button.isEnabled() and not view.progress.isVisible()
    finally:
        if launcher.own_child_alive():
            launcher.kill()


# -- the engine's adapter -----------------------------------------------------------------------


def promote_small_adapter(app, tmp_path, memory_ids, name="a.gguf", seed=0):
    """A real (tiny) GGUF LoRA promoted as trained on `memory_ids` (as the job records it)."""
    rows = {r["id"]: r["text"] for r in app.store.query("SELECT id, text FROM memories")}
    return AdapterRegistry(app.store, app.home).promote(
        write_small_lora(tmp_path / name, seed=seed), app.model().sha256, "llamacpp", {}, {},
        {i: content_sha256(rows[i]) for i in memory_ids}, set())


class LabelAtLoadStart(QObject):
    """Records the status bar's adapter label when a load starts (after the window's own slot),
    and the thread each (re)load of the chat service ran on."""

    def __init__(self, window):
        super().__init__()
        self.window, self.texts, self.threads = window, [], []
        window.queue.worker.load_started.connect(self.record)
        app, chat = window.app, window.app.chat

        def chat_recording_its_thread(*args, **kwargs):  # the worker builds its service here
            self.threads.append(threading.get_ident())
            return chat(*args, **kwargs)

        app.chat = chat_recording_its_thread

    @Slot()
    def record(self) -> None:
        self.texts.append(self.window.adapter_label.text())

    def loaded_off_the_ui_thread(self) -> bool:
        return bool(self.threads) and threading.main_thread().ident not in self.threads


@pytest.fixture
def window(qtbot, nocturne_home):
    win = MainWindow(Nocturne(nocturne_home), load=False)  # shutdown() closes its Nocturne
    qtbot.addWidget(win)
    win.show()
    yield win
    win.shutdown()


def load(qtbot, win) -> dict:
    with qtbot.waitSignal(win.queue.worker.loaded, timeout=120_000) as loaded:
        win.queue.load()
    return loaded.args[0]


@pytest.mark.parametrize("change", ["edit", "reject", "delete"])
def test_a_change_that_taints_the_loaded_adapter_reloads_the_engine(qtbot, window, tmp_path, change):
    app = window.app
    ids = add_memories(app, MEMORIES)
    adapter = promote_small_adapter(app, tmp_path, ids)
    assert load(qtbot, window)["adapter"] == adapter.version
    assert window.adapter_label.text() == f"Adapter: {adapter.version}"

    service = memory_service(app)
    actions = {"edit": lambda: service.edit(ids[0], "My cat is called Tofu"),
               "reject": lambda: service.reject(ids[0]), "delete": lambda: service.delete(ids[0])}
    with qtbot.waitSignal(window.queue.worker.loaded, timeout=120_000) as reloaded:
        assert window.memories_view._run(actions[change])  # as the view's buttons run it
    assert reloaded.args[0]["adapter"] is None
    assert app.engine().adapter_version is None  # the engine itself, not only the label
    assert window.adapter_label.text() == "Adapter: base model"


def test_a_new_adapter_is_offered_and_loads_only_when_asked(qtbot, window, tmp_path):
    app = window.app
    ids = add_memories(app, MEMORIES)
    assert load(qtbot, window)["adapter"] is None
    view = window.learning_view
    assert view.ready.isHidden()

    new = promote_small_adapter(app, tmp_path, ids)  # as a learning run in another process does
    view.refresh()  # the view's poll
    assert not view.ready.isHidden() and new.version in view.ready_text.text()  # Chat is in front
    assert "next time Nocturne starts" in view.ready_text.text()
    assert window.adapter_label.text() == "Adapter: base model"  # not loaded yet: not named
    assert "loads the next time Nocturne starts" in window.statusBar().currentMessage()
    assert app.engine().adapter_version is None

    label_while_loading = LabelAtLoadStart(window)
    with qtbot.waitSignal(window.queue.worker.loaded, timeout=120_000) as swapped:
        qtbot.mouseClick(view.use_now_button, Qt.MouseButton.LeftButton)
    assert label_while_loading.texts == [""]  # while it reloads, no adapter is named
    assert label_while_loading.loaded_off_the_ui_thread()
    assert swapped.args[0]["adapter"] == new.version
    assert window.adapter_label.text() == f"Adapter: {new.version}" and view.ready.isHidden()


def test_rolling_back_reloads_the_engine_with_the_chosen_version(qtbot, window, tmp_path):
    app = window.app
    ids = add_memories(app, MEMORIES)
    first = promote_small_adapter(app, tmp_path, ids, "1.gguf")
    second = promote_small_adapter(app, tmp_path, ids, "2.gguf", seed=1)
    assert load(qtbot, window)["adapter"] == second.version
    view = window.learning_view
    view.refresh()
    row = [view.adapters.item(r, 0).text() for r in range(view.adapters.rowCount())].index(first.version)
    view.adapters.selectRow(row)
    with qtbot.waitSignal(window.queue.worker.loaded, timeout=120_000) as reloaded:
        qtbot.mouseClick(view.use_button, Qt.MouseButton.LeftButton)
    assert reloaded.args[0]["adapter"] == first.version
    assert window.adapter_label.text() == f"Adapter: {first.version}"


def test_the_nights_training_time_is_set_in_the_view(app, qtbot):
    view = LearningView(app)
    qtbot.addWidget(view)
    assert view.minutes.value() == 30
    view.minutes.setValue(45)
    view.minutes.editingFinished.emit()
    assert app.settings.get("learning_minutes") == 45


@pytest.mark.timeout(1800)  # one run of the job (fast trainer): minutes on a busy machine
def test_a_real_rejected_run_names_no_adapter_and_leaves_unmeasured_cells_blank(qtbot, window, shared_training_cache):
    app = window.app
    add_memories(app, MEMORIES)
    app.settings.set("threads", 1)
    assert load(qtbot, window)["adapter"] is None
    report = run_learning_job(app, options=FAST)  # a few random-weight steps: the gate rejects it
    assert report.status == "rejected" and report.adapter_version is None
    view = window.learning_view
    view.refresh()  # the view's poll

    # Nothing to offer, nothing named: the status bar and the label say the base model.
    assert view.ready.isHidden()
    assert window.adapter_label.text() == "Adapter: base model"
    assert "adapter" not in window.statusBar().currentMessage().lower()
    assert app.engine().adapter_version is None

    # The run's row: what it measured is shown, what it did not (in-chat recall of a rejected
    # adapter, the adapter itself) is a blank cell whose tooltip says why.
    headers = [view.runs.horizontalHeaderItem(c).text() for c in range(view.runs.columnCount())]
    cells = {h: view.runs.item(0, c) for c, h in enumerate(headers)}
    assert cells["Status"].text() == "rejected"
    assert cells["Recall"].text() == f"{report.recall.adapter:.0%}"
    assert report.recall_in_chat is None and cells["In chat"].text() == ""
    assert cells["In chat"].toolTip() == f"Not measured in this run. {report.reason}"
    assert cells["Adapter"].text() == ""
    assert report.reason and report.reason in view.report.text.text()


def test_the_report_says_whether_chat_already_uses_the_runs_adapter():
    from app.run_report import RunReport
    from ui.views.learning_report import report_html

    run = RunReport(status="succeeded", trigger="scheduled", adapter_version="20261127-233058")
    assert "Chat is using this adapter now" in report_html(run, "20261127-233058")
    for loaded in (None, "20261126-030000"):  # loading, or an older version in the engine
        assert "loads at the next start" in report_html(run, loaded)


def test_the_tables_keep_three_rows_and_the_view_scrolls_instead_of_squeezing(qtbot, app):
    view = LearningView(app)
    qtbot.addWidget(view)
    view.resize(1180, 250)  # shorter than everything the view holds
    view.show()
    for table in (view.runs, view.adapters):
        assert table.minimumHeight() >= 3 * table.verticalHeader().defaultSectionSize()
    scroll = view.findChild(QScrollArea)
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0)  # it scrolls once laid out
    assert not scroll.horizontalScrollBar().isVisible()
