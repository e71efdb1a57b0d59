"""The PySide6 desktop app: windows, views, Qt models and workers. No business logic here."""
