"""The nightly sleep-time job: trigger, catch-up, run lock, child process. Never imports PySide6."""
