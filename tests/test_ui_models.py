"""The Models pane: lists other apps' GGUFs, switches the chat model, downloads with cancel."""

from __future__ import annotations

import hashlib
import shutil

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QFont

from app.context import Nocturne
from ondevice.architectures import can_learn
from tests.gguf_helpers import plant_other_apps, user_home, write_gguf
from tests.hub_server import HubServer, hub_online
from tests.tiny_gguf import write_tiny_model
from ui.main_window import MainWindow
from ui.models.model_table import COLUMNS
from ui.views.models_view import ModelsView

__all__ = ["user_home", "hub_online"]  # fixtures, imported for pytest


def cell(view: ModelsView, row: int, column: str, role=Qt.DisplayRole):
    return view.model.data(view.model.index(row, COLUMNS.index(column)), role)


def rows_by_source(view: ModelsView) -> dict[str, int]:
    return {cell(view, row, "From"): row for row in range(view.model.rowCount())}


@pytest.fixture
def view(qtbot, user_home, app):
    pane = ModelsView(app)
    qtbot.addWidget(pane)
    yield pane
    pane.shutdown()


def test_lists_the_models_other_apps_keep(qtbot, view, user_home):
    plant_other_apps(user_home)
    with qtbot.waitSignal(view.listed, timeout=30_000):
        view.show()  # the first look happens when the pane is first shown
    rows = rows_by_source(view)
    assert list(rows) == ["Bundled", "LM Studio", "Ollama", "GPT4All", "Jan", "Hugging Face"]
    bundled = rows["Bundled"]
    assert cell(view, bundled, "Name").endswith("· in use")  # the default stays the bundled one
    assert cell(view, bundled, "Name", Qt.FontRole).bold()
    assert (cell(view, bundled, "Architecture"), cell(view, bundled, "Quantization")) == (
        "llama", "Q4_1")
    assert cell(view, bundled, "Parameters") == "135M"
    assert (cell(view, bundled, "Chat"), cell(view, bundled, "Learn")) == ("yes", "yes")
    ollama = rows["Ollama"]
    assert cell(view, ollama, "Name") == "tinyqwen:0.5b"
    assert (cell(view, ollama, "Chat"), cell(view, ollama, "Learn")) == ("yes", "no")
    assert "the file is incomplete" in cell(view, ollama, "Learn", Qt.ToolTipRole)  # a header-only qwen2
    assert cell(view, rows["GPT4All"], "Chat") == "no"
    assert "no chat template" in cell(view, rows["GPT4All"], "Chat", Qt.ToolTipRole)


def test_the_learn_column_agrees_with_the_nightly_job(qtbot, view, user_home, model_path):
    folder = user_home / ".lmstudio/models/tiny"
    folder.mkdir(parents=True)
    for arch in ("qwen2", "qwen35"):
        write_tiny_model(folder / f"{arch}.gguf", arch, model_path)
    with qtbot.waitSignal(view.listed, timeout=30_000):
        view.show()
    rows = {cell(view, row, "Architecture"): row for row in range(view.model.rowCount())}
    assert cell(view, rows["qwen2"], "Learn") == "yes" and can_learn(folder / "qwen2.gguf").ok
    assert cell(view, rows["qwen35"], "Learn") == "no"
    assert cell(view, rows["qwen35"], "Learn", Qt.ToolTipRole) == can_learn(folder / "qwen35.gguf").reason


def test_using_a_model_changes_the_setting_and_asks_for_a_reload(qtbot, view, user_home, app):
    planted = plant_other_apps(user_home)
    with qtbot.waitSignal(view.listed, timeout=30_000):
        view.refresh()
    view.select(planted["LM Studio"])
    with qtbot.waitSignal(view.model_changed):
        view.use_selected()
    assert app.settings.get("model_path") == str(planted["LM Studio"].resolve())
    row = rows_by_source(view)["LM Studio"]
    assert cell(view, row, "Name").endswith("· in use")
    assert not isinstance(cell(view, rows_by_source(view)["Bundled"], "Name", Qt.FontRole), QFont)


def test_picking_a_model_reloads_the_engine_off_the_ui_thread(qtbot, user_home, nocturne_home,
                                                              model_path):
    # A real chat model where LM Studio keeps models: the bundled file under another name.
    copy = user_home / ".lmstudio/models/me/Smol-GGUF/smol-copy.gguf"
    copy.parent.mkdir(parents=True)
    shutil.copyfile(model_path, copy)
    window = MainWindow(Nocturne(nocturne_home), load=False)
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.models_view.listed, timeout=30_000):
            window.tabs.setCurrentWidget(window.models_view)
            window.show()
        window.models_view.select(copy)
        with qtbot.waitSignal(window.queue.worker.loaded, timeout=120_000) as loaded:
            window.models_view.use_button.click()
            assert window.model_label.text().startswith("Model: loading")
        assert loaded.args[0]["model"] == "smol-copy"
        assert window.model_label.text() == "Model: smol-copy"
    finally:
        window.shutdown()


def test_download_in_the_pane_can_be_cancelled_then_completes(qtbot, view, tmp_path, hub_online,
                                                              app):
    data = write_gguf(tmp_path / "src.gguf", name="Pane Download").read_bytes() + b"\0" * 2**21
    repo, filename = "someone/Pane-GGUF", "pane.gguf"
    with HubServer({(repo, filename): data}, seconds_per_chunk=0.02) as hub:
        hub_online(hub)
        view.repo_edit.setText(repo)
        view.file_edit.setText(filename)
        view.sha_edit.setText(hashlib.sha256(data).hexdigest())
        view.download_button.click()
        assert not view.download_button.isEnabled() and view.cancel_button.isEnabled()
        # A piece has arrived (and is on disk by the time the next one checks for cancel).
        qtbot.waitUntil(lambda: view.progress.value() > 0, timeout=10_000)
        with qtbot.waitSignal(view._download.cancelled, timeout=10_000):
            view.cancel_button.click()
        assert "cancelled" in view.status.text()
        assert view.download_button.isEnabled() and not view.cancel_button.isEnabled()
        assert not (app.home / "models" / filename).exists()

        hub.seconds_per_chunk = 0
        with qtbot.waitSignal(view.listed, timeout=30_000):
            view.download_button.click()
    assert (app.home / "models" / filename).read_bytes() == data
    assert hub.ranges(), "the second download started over instead of resuming"
    qtbot.waitUntil(lambda: view.selected_path() is not None, timeout=5_000)
    assert view.selected_path() == str(app.home / "models" / filename)
    assert cell(view, rows_by_source(view)["Nocturne"], "Name") == "pane"
