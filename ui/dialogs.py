"""Small shared dialogs: showing a user-facing error, asking for confirmation."""

from __future__ import annotations

from PySide6.QtWidgets import QCheckBox, QMessageBox, QWidget


def show_error(parent: QWidget, exc: Exception) -> None:
    """Show an app error (its message is already one sentence with the fix)."""
    QMessageBox.warning(parent, "Nocturne", str(exc) or type(exc).__name__)


def confirm(parent: QWidget, title: str, text: str, also: str | None = None,
            destructive: str = "Delete") -> tuple[bool, bool]:
    """Ask before something that cannot be undone.

    Args:
        parent: the window to center on.
        title: the dialog's title.
        text: what will happen, in a sentence.
        also: label of an extra checkbox (e.g. "Also delete the source conversation"), or None.
        destructive: the label of the confirming button.
    Returns:
        (confirmed, extra checkbox checked).
    """
    box = QMessageBox(QMessageBox.Warning, title, text, parent=parent)
    box.setAccessibleName(title)
    yes = box.addButton(destructive, QMessageBox.DestructiveRole)
    box.addButton(QMessageBox.Cancel)
    box.setDefaultButton(QMessageBox.Cancel)
    check = None
    if also:
        check = QCheckBox(also)
        check.setAccessibleName(also)
        box.setCheckBox(check)
    box.exec()
    return box.clickedButton() is yes, bool(check and check.isChecked())
