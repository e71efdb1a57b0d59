"""The app's look: one light and one dark theme, following the OS's colour scheme.

Everything colour-related lives here: the QPalette, the stylesheet, and the Pygments style code
blocks use. Qt 6's `QStyleHints.colorScheme` says which one the OS wants and
`colorSchemeChanged` says when it flips; widgets that bake colours in (highlighted code)
re-render on the palette-change event that follows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QGuiApplication, QPalette
from PySide6.QtWidgets import QApplication


@dataclass(frozen=True)
class Theme:
    dark: bool
    window: str  # the window and the chat's background
    sidebar: str  # the conversation list's side
    surface: str  # inputs, lists, cards
    text: str
    muted: str  # secondary text: dates, hints, message headers
    border: str
    accent: str  # primary buttons, selection, links
    accent_text: str
    user_bubble: str
    code_background: str
    banner_background: str
    banner_text: str
    danger: str
    success: str  # the recall chart's "in chat" line
    pygments_style: str


LIGHT = Theme(dark=False, window="#fbfbfd", sidebar="#f2f2f6", surface="#ffffff",
              text="#1c1c21", muted="#6b6b76", border="#e2e2ea", accent="#5b5bd6",
              accent_text="#ffffff", user_bubble="#ebebfd", code_background="#f5f5f9",
              banner_background="#fff4d6", banner_text="#4d3b00", danger="#c4312b",
              success="#1f8a5b", pygments_style="friendly")
DARK = Theme(dark=True, window="#1a1a1f", sidebar="#141418", surface="#24242b",
             text="#ececf1", muted="#9d9daa", border="#34343e", accent="#8484f0",
             accent_text="#101014", user_bubble="#2f2f4d", code_background="#121216",
             banner_background="#3a3218", banner_text="#f3e3b0", danger="#ff7b72",
             success="#56d296", pygments_style="github-dark")


def theme_for(scheme: Qt.ColorScheme, fallback_palette: QPalette | None = None) -> Theme:
    """The theme for an OS colour scheme; Unknown (older desktops) guesses from the palette."""
    if scheme == Qt.ColorScheme.Dark:
        return DARK
    if scheme == Qt.ColorScheme.Light or fallback_palette is None:
        return LIGHT
    return DARK if fallback_palette.color(QPalette.Window).lightness() < 128 else LIGHT


def current_theme() -> Theme:
    """The theme applied now (light when no application runs)."""
    app = QApplication.instance()
    return DARK if app is not None and app.property("nocturneDark") else LIGHT


def palette(theme: Theme) -> QPalette:
    """A full QPalette, so widgets the stylesheet does not mention match too."""
    colours = {
        QPalette.Window: theme.window, QPalette.WindowText: theme.text,
        QPalette.Base: theme.surface, QPalette.AlternateBase: theme.sidebar,
        QPalette.Text: theme.text, QPalette.Button: theme.surface,
        QPalette.ButtonText: theme.text, QPalette.Highlight: theme.accent,
        QPalette.HighlightedText: theme.accent_text, QPalette.ToolTipBase: theme.surface,
        QPalette.ToolTipText: theme.text, QPalette.PlaceholderText: theme.muted,
        QPalette.Link: theme.accent, QPalette.Mid: theme.border, QPalette.Midlight: theme.border,
        QPalette.Dark: theme.muted, QPalette.Light: theme.surface,
        QPalette.BrightText: theme.danger,
    }
    result = QPalette()
    for role, colour in colours.items():
        result.setColor(role, QColor(colour))
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        result.setColor(QPalette.Disabled, role, QColor(theme.muted))
    return result


RESOURCES = Path(__file__).resolve().parent / "resources"


def stylesheet(t: Theme) -> str:
    chevron = (RESOURCES / f"chevron-{'dark' if t.dark else 'light'}.svg").as_posix()
    return f"""
QMainWindow, QDialog {{ background: {t.window}; }}
QWidget#chatSide, QWidget#messages, QWidget#welcome, QScrollArea#messageScroll,
QScrollArea#learningScroll, QWidget#learningContent {{ background: {t.window}; }}
QWidget#conversationPanel {{ background: {t.sidebar}; border-right: 1px solid {t.border}; }}
QLabel {{ color: {t.text}; }}
QFrame#userMessage {{ background: {t.user_bubble}; border: none; border-radius: 16px; }}
QFrame#assistantMessage {{ background: transparent; border: none; }}
QLabel#messageHeader {{ font-weight: 600; color: {t.muted}; }}
QLabel#messageNote {{ color: {t.muted}; font-style: italic; }}
QFrame#codeBlock {{ background: {t.code_background}; border: 1px solid {t.border};
                    border-radius: 10px; }}
QLabel#codeLanguage {{ color: {t.muted}; font-size: 11px; }}
QLabel#conversationTitle {{ font-size: 16px; font-weight: 600; padding: 10px 4px 6px 4px; }}
QLabel#banner {{ background: {t.banner_background}; color: {t.banner_text};
                 border-radius: 8px; padding: 8px 10px; }}
QLabel#welcomeTitle {{ font-size: 28px; font-weight: 700; }}
QLabel#welcomeLead, QLabel#emptyHint {{ font-size: 14px; color: {t.muted}; }}
QLabel#privacyLine {{ color: {t.muted}; font-size: 12px; }}
QFrame#featureCard {{ background: {t.surface}; border: 1px solid {t.border};
                      border-radius: 12px; }}
QLabel#featureTitle {{ font-weight: 600; font-size: 14px; }}
QLabel#featureText {{ color: {t.muted}; }}
QPushButton#suggestion {{ background: {t.surface}; border: 1px solid {t.border};
    border-radius: 12px; padding: 10px 14px; text-align: left; color: {t.text}; }}
QPushButton#suggestion:hover {{ border-color: {t.accent}; }}
QPushButton {{ background: {t.surface}; color: {t.text}; border: 1px solid {t.border};
               border-radius: 8px; padding: 6px 14px; }}
QPushButton:hover {{ border-color: {t.accent}; }}
QPushButton:disabled {{ color: {t.muted}; }}
QPushButton:default, QPushButton#primaryButton {{ background: {t.accent};
    color: {t.accent_text}; border: 1px solid {t.accent}; font-weight: 600; }}
QPushButton:default:disabled, QPushButton#primaryButton:disabled {{ background: {t.border};
    border-color: {t.border}; color: {t.muted}; }}
QPushButton#dangerButton {{ color: {t.danger}; }}
QToolButton {{ color: {t.muted}; border: none; border-radius: 6px; padding: 3px 7px; }}
QToolButton:hover {{ background: {t.sidebar}; color: {t.text}; }}
QToolButton:checked {{ color: {t.accent}; font-weight: 600; }}
QLineEdit, QPlainTextEdit, QTextEdit, QSpinBox, QComboBox, QTimeEdit {{
    background: {t.surface}; color: {t.text}; border: 1px solid {t.border};
    border-radius: 8px; padding: 5px 8px; selection-background-color: {t.accent};
    selection-color: {t.accent_text}; }}
QLineEdit:focus, QPlainTextEdit:focus, QTextEdit:focus {{ border-color: {t.accent}; }}
QAbstractSpinBox::up-button, QAbstractSpinBox::down-button {{ width: 0; border: none; }}
QComboBox {{ padding-right: 24px; }}
QComboBox::drop-down {{ subcontrol-origin: padding; subcontrol-position: center right;
    width: 22px; border: none; }}
QComboBox::down-arrow {{ image: url("{chevron}"); width: 10px; height: 6px; }}
QComboBox QAbstractItemView {{ background: {t.surface}; color: {t.text};
    selection-background-color: {t.accent}; selection-color: {t.accent_text}; }}
QGroupBox {{ background: {t.surface}; border: 1px solid {t.border}; border-radius: 12px;
    margin-top: 24px; padding: 8px 10px 10px 10px; }}
QGroupBox::title {{ subcontrol-origin: margin; subcontrol-position: top left; left: 4px;
    padding: 0 0 4px 0; color: {t.text}; }}
QGroupBox QTableView {{ border: none; }}
QPlainTextEdit#chatInput {{ border-radius: 14px; padding: 8px 12px; font-size: 14px; }}
QListView, QTableView, QTreeView {{ background: {t.surface}; color: {t.text};
    border: 1px solid {t.border}; border-radius: 8px; outline: none;
    alternate-background-color: {t.sidebar}; }}
QListView#conversationList {{ background: transparent; border: none; }}
QListView::item {{ padding: 7px 8px; border-radius: 8px; }}
QListView::item:hover {{ background: {t.surface}; }}
QListView::item:selected {{ background: {t.accent}; color: {t.accent_text}; }}
QHeaderView::section {{ background: {t.sidebar}; color: {t.muted}; border: none;
    border-bottom: 1px solid {t.border}; padding: 5px 6px; }}
QTabWidget::pane {{ border: none; }}
QTabBar::tab {{ background: transparent; color: {t.muted}; padding: 8px 16px;
    border: none; border-bottom: 2px solid transparent; }}
QTabBar::tab:selected {{ color: {t.text}; border-bottom: 2px solid {t.accent}; }}
QTabBar::tab:hover {{ color: {t.text}; }}
QStatusBar {{ background: {t.sidebar}; color: {t.muted}; border-top: 1px solid {t.border}; }}
QStatusBar QLabel {{ color: {t.muted}; padding: 0 6px; }}
QMenuBar {{ background: {t.window}; color: {t.text}; }}
QMenuBar::item:selected, QMenu::item:selected {{ background: {t.accent};
    color: {t.accent_text}; }}
QMenu {{ background: {t.surface}; color: {t.text}; border: 1px solid {t.border}; }}
QProgressBar {{ background: {t.sidebar}; border: none; border-radius: 4px; height: 8px;
    text-align: center; color: {t.text}; }}
QProgressBar::chunk {{ background: {t.accent}; border-radius: 4px; }}
QScrollBar:vertical {{ background: transparent; width: 10px; margin: 2px; }}
QScrollBar::handle:vertical {{ background: {t.border}; border-radius: 3px; min-height: 32px; }}
QScrollBar::handle:vertical:hover {{ background: {t.muted}; }}
QScrollBar:horizontal {{ background: transparent; height: 10px; margin: 2px; }}
QScrollBar::handle:horizontal {{ background: {t.border}; border-radius: 3px; min-width: 32px; }}
QScrollBar::add-line, QScrollBar::sub-line {{ width: 0; height: 0; }}
QScrollBar::add-page, QScrollBar::sub-page {{ background: transparent; }}
QSplitter::handle {{ background: {t.border}; }}
QToolTip {{ background: {t.surface}; color: {t.text}; border: 1px solid {t.border}; }}
"""


def apply_theme(qt: QApplication, theme: Theme) -> None:
    """Apply `theme` to the whole app (palette, stylesheet); widgets get a PaletteChange."""
    qt.setProperty("nocturneDark", theme.dark)
    qt.setPalette(palette(theme))
    qt.setStyleSheet(stylesheet(theme))


def apply_style(qt: QApplication) -> None:
    """Fusion everywhere, in the theme the OS asks for now and whenever it changes."""
    qt.setStyle("Fusion")
    hints = QGuiApplication.styleHints()
    if qt.property("nocturneFollowsScheme"):  # styled before: our own palette says nothing
        apply_theme(qt, theme_for(hints.colorScheme()))
        return
    # The desktop's own palette, still untouched, is the best guess when the scheme is Unknown.
    apply_theme(qt, theme_for(hints.colorScheme(), qt.palette()))
    qt.setProperty("nocturneFollowsScheme", True)
    hints.colorSchemeChanged.connect(lambda scheme: apply_theme(qt, theme_for(scheme)))
