"""Which trainer learns: MLX on Apple silicon, llama.cpp elsewhere; a flag or setting forces either."""

from __future__ import annotations

import platform
import sys

from .types import Trainer

TRAINERS = ("mlx", "llamacpp")


def default_trainer() -> str:
    """`mlx` on macOS arm64, `llamacpp` everywhere else."""
    if sys.platform == "darwin" and platform.machine() == "arm64":
        return "mlx"
    return "llamacpp"


def choose_trainer(flag: str | None, setting: str | None) -> str:
    """The trainer name: the --trainer flag, else the setting (unless 'auto'), else the default.

    Raises:
        ValueError: an unknown trainer name.
    """
    for choice in (flag, setting):
        if choice and choice != "auto":
            if choice not in TRAINERS:
                raise ValueError(f"unknown trainer {choice!r}: use one of {', '.join(TRAINERS)}")
            return choice
    return default_trainer()


def trainer_class(name: str) -> type[Trainer]:
    """Import the trainer lazily (MLX is optional off Apple silicon).

    Raises:
        ImportError: the trainer's packages are not installed.
        abi.AbiMismatch: llama.cpp's trainer bindings do not match the installed llama.cpp.
    """
    if name == "mlx":
        from .mlx_trainer import MlxTrainer

        return MlxTrainer
    from .ggml_opt import libs
    from .llamacpp_trainer import LlamaCppTrainer

    libs()  # checks the ABI now, before any work is spent on a run that cannot train
    return LlamaCppTrainer
