"""The look: light/dark following the OS, code blocks, the welcome pane, the conversation list."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication, QPalette
from PySide6.QtWidgets import QStyleOptionViewItem

from app.context import Nocturne
from ui.main_window import MainWindow
from ui.style import DARK, LIGHT, apply_style
from ui.views.message_widget import MessageWidget
from ui.views.welcome import SUGGESTIONS
from ui.views.word_elide import LINE_SEPARATOR

CODE_ANSWER = "Here it is:\n\n```python\ndef double(x):\n    return 2 * x\n```\n\nThat's all."


@pytest.fixture
def styled(qapp):
    """The app styled as ui.app styles it; plain Qt again afterwards for the other tests."""
    apply_style(qapp)
    yield qapp
    QGuiApplication.styleHints().colorSchemeChanged.emit(Qt.ColorScheme.Light)
    qapp.setStyleSheet("")
    qapp.setPalette(qapp.style().standardPalette())


def flip_scheme(scheme: Qt.ColorScheme) -> None:
    """What the OS does when the user switches light/dark: Qt emits colorSchemeChanged."""
    QGuiApplication.styleHints().colorSchemeChanged.emit(scheme)


def test_the_theme_follows_the_os_colour_scheme(styled, qtbot):
    answer = MessageWidget("assistant", CODE_ANSWER)
    qtbot.addWidget(answer)
    light_code = answer.code_blocks()[0].body.text()

    flip_scheme(Qt.ColorScheme.Dark)
    assert styled.palette().color(QPalette.Window).name() == DARK.window
    assert DARK.user_bubble in styled.styleSheet()
    dark_code = answer.code_blocks()[0].body.text()
    assert dark_code != light_code  # the highlighted code was redrawn in the dark style

    flip_scheme(Qt.ColorScheme.Light)
    assert styled.palette().color(QPalette.Window).name() == LIGHT.window
    assert answer.code_blocks()[0].body.text() == light_code


def test_code_blocks_are_highlighted_and_copied_alone(qtbot, qapp):
    answer = MessageWidget("assistant", CODE_ANSWER)
    qtbot.addWidget(answer)
    [block] = answer.code_blocks()
    assert block.language_label.text() == "python"
    assert "<span style=" in block.body.text()  # Pygments coloured it
    block.copy_button.click()
    assert QGuiApplication.clipboard().text() == "def double(x):\n    return 2 * x"


def test_a_streaming_code_block_grows_in_place(qtbot, qapp):
    answer = MessageWidget("assistant", "")
    qtbot.addWidget(answer)
    for piece in ("Sure:\n```sh\n", "echo hi", "\n```\nDone."):
        answer.append(piece)
        answer._render()  # what the throttle timer does
    [block] = answer.code_blocks()
    assert block.code == "echo hi"
    assert not answer.copy_code_button.isHidden()
    assert [w.text() for w in answer._segment_widgets if w is not block] == ["Sure:", "Done."]


@pytest.fixture
def window(qtbot, nocturne_home):
    app = Nocturne(nocturne_home)
    win = MainWindow(app, max_tokens=8, load=False)
    qtbot.addWidget(win)
    with qtbot.waitSignal(win.queue.worker.loaded, timeout=120_000):
        win.queue.load()
    win.show()
    yield win
    win.shutdown()


def test_the_welcome_pane_teaches_and_a_suggestion_starts_a_chat(qtbot, window):
    view = window.chat_view
    assert view.welcome.isVisible()
    text = view.welcome.findChild(type(view.title), "welcomeLead").text()
    assert "overnight" in text
    button = view.welcome.suggestion_buttons[0]
    with qtbot.waitSignal(view.answer_finished, timeout=120_000) as finished:
        qtbot.mouseClick(button, Qt.LeftButton)
    assert not view.welcome.isVisible()
    widgets = view.message_widgets()
    assert [w.role for w in widgets] == ["user", "assistant"]
    assert widgets[0].text == SUGGESTIONS[0]
    conversation = window.app.log.get(finished.args[0]["conversation_id"])
    assert conversation["title"] == SUGGESTIONS[0]
    window.new_action.trigger()
    assert view.welcome.isVisible() and view.message_widgets() == []


def test_long_titles_end_in_an_ellipsis_without_a_sideways_scrollbar(qtbot, window):
    for _ in range(3):
        window.app.log.create("I am planning a long trip through Portugal and Spain next "
                              "spring with my family. What should I pack?")
    panel = window.chat_view.panel
    panel.refresh()
    qtbot.wait(50)
    assert panel.list.model().rowCount() == 3
    assert panel.list.model().index(0).data().startswith(
        "I am planning a long trip through Portugal and Spain next…")
    assert not panel.list.horizontalScrollBar().isVisible()
    assert not window.chat_view.scroll.horizontalScrollBar().isVisible()
    # What the list draws in its narrow side panel ends after a whole word, not "…a s…".
    option = QStyleOptionViewItem()
    option.initFrom(panel.list)
    option.rect = panel.list.visualRect(panel.list.model().index(0))
    panel.list.itemDelegate().initStyleOption(option, panel.list.model().index(0))
    drawn, detail = option.text.split(LINE_SEPARATOR)  # Qt draws the model's "\n" as this mark
    assert drawn.endswith("…") and len(drawn) < 45, drawn  # the panel is narrower than the title
    assert detail.startswith("0 messages · ")  # the second line stays a line of its own
    row = panel.list.visualRect(panel.list.model().index(0))
    assert row.height() >= 2 * panel.list.fontMetrics().height()  # and the row has room for it
    words = drawn[:-1].split()
    title = ["I", "am", "planning", "a", "long", "trip", "through", "Portugal", "and", "Spain"]
    assert words == title[:len(words)]


def test_an_unknown_scheme_follows_a_dark_desktop_palette(qapp):
    from PySide6.QtGui import QColor

    from ui.style import theme_for

    dark_desktop = QPalette()
    dark_desktop.setColor(QPalette.Window, QColor("#202020"))
    assert theme_for(Qt.ColorScheme.Unknown, dark_desktop) is DARK
    assert theme_for(Qt.ColorScheme.Unknown, qapp.style().standardPalette()) is LIGHT
    assert theme_for(Qt.ColorScheme.Dark) is DARK and theme_for(Qt.ColorScheme.Light) is LIGHT


def ink(icon) -> int:
    """Lightness of the crescent's darkest-or-lightest opaque pixel (its ink)."""
    image = icon.pixmap(64, 64).toImage()
    colours = [image.pixelColor(x, y) for x in range(64) for y in range(64)]
    opaque = [c.lightness() for c in colours if c.alpha() == 255]
    assert opaque, "the icon is empty"
    return sorted(opaque)[len(opaque) // 2]


def test_the_tray_icon_contrasts_with_the_panel_and_follows_the_scheme(styled, qtbot):
    from ui.icon import tray_icon
    from ui.tray import Tray

    assert ink(tray_icon(dark_panel=True)) > 200  # light ink on a dark panel
    assert ink(tray_icon(dark_panel=False)) < 100  # dark ink on a light panel
    tray = Tray()
    flip_scheme(Qt.ColorScheme.Dark)
    assert ink(tray.icon()) > 200
    flip_scheme(Qt.ColorScheme.Light)
    assert ink(tray.icon()) < 100
