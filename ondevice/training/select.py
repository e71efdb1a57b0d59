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


def llamacpp_problem() -> str | None:
    """Why the llama.cpp trainer cannot run on the installed llama.cpp, or None (never raises).

    Checks the version and the struct layouts against the library once (cached), so selecting
    a trainer, `can_learn` and `nocturne learning status` say so before any work starts.
    """
    from . import abi
    from .ggml_opt import libs

    try:
        libs()
    except abi.AbiMismatch as exc:
        return (f"its training bindings are switched off because {exc.why}, and they are tested "
                f"with llama-cpp-python {' / '.join(abi.TESTED_VERSIONS)} only")
    except OSError as exc:  # a library file missing or unloadable
        return f"the llama.cpp library could not be loaded ({exc})"
    return None


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
