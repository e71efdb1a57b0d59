"""What must happen before the window is on screen, so its UI thread never waits for it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

PROBE = """
import sys
from PySide6.QtWidgets import QApplication
qt = QApplication([])
from app.context import Nocturne
from ui.main_window import MainWindow
assert "llama_cpp" not in sys.modules  # nothing before the window imported it
window = MainWindow(Nocturne(sys.argv[1]), load=False)
print(sorted(m for m in ("llama_cpp", "llama_cpp.llama_chat_format") if m in sys.modules))
window.warmup.join(60)  # off the UI thread, done long before any answer's code or download
print(sorted(m for m in ("pygments.lexers.python", "pygments.lexers.rust", "pygments.formatters.html",
                         "huggingface_hub.file_download") if m in sys.modules))
window.shutdown()
"""


def test_the_window_imports_llama_cpp_before_it_is_shown(tmp_path):
    """Importing llama.cpp on the model's thread held the GIL for up to a second at a time
    while the window was on screen (bench/ui_latency.py: the longest stalls of a model load)."""
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-c", PROBE, str(tmp_path / "home")], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[-3] == "['llama_cpp', 'llama_cpp.llama_chat_format']"
    # Pygments with every lexer (guessing a language loads them all) and the hub's client were
    # imported off the UI thread: the first code block took 73-384 ms on it, a first download 72.
    assert done.stdout.split("\n")[-2] == ("['huggingface_hub.file_download', 'pygments.formatters.html', "
                                           "'pygments.lexers.python', 'pygments.lexers.rust']")
