"""Everything that touches a model: engines, model registry, training, evaluation, adapters.

Never imports PySide6.
"""
