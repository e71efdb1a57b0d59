"""The models a user can pick: the bundled one, Nocturne's downloads, and other apps' GGUFs.

The one service the Models pane and `nocturne models` share: list, use (the model_path setting),
download (into the data folder's models/ folder).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from app.errors import InputError, ModelError, NocturneError
from app.paths import subdir
from ondevice.gguf_info import GgufReadError, chat_reason, read_gguf_info
from ondevice.model_catalog import FoundModel, discover
from ondevice.model_download import (DownloadCancelled, DownloadError, DownloadProgress,
                                     download_gguf)
from ondevice.models import ModelFileError, bundled_model_path, check_gguf

DOWNLOADS = "models"
BUNDLED = "Bundled"


class DownloadFailed(NocturneError):
    """A model download failed or was refused (bad repo, file, sha256, network)."""


class DownloadStopped(NocturneError):
    """The user cancelled a download; the partial file stays so the next try resumes."""

    exit_code = 130


def downloads_dir(home: Path) -> Path:
    """Where downloaded models go: a private folder inside the data folder."""
    return subdir(home, DOWNLOADS)


def available_models(home: Path, user_home: Path | None = None, trainer: str | None = None) -> list[FoundModel]:
    """The bundled model first, then Nocturne's downloads, then every app's GGUFs.

    Args:
        home: Nocturne's data folder.
        user_home: the user's home folder to search (default: Path.home()).
        trainer: the trainer setting, which decides whether a model can learn.
    """
    extra = [("Nocturne", downloads_dir(home))]
    found = discover(user_home, extra=extra, trainer=trainer)
    try:
        bundled = read_gguf_info(bundled_model_path())
    except (GgufReadError, ModelFileError):
        return found
    # Its file name, as the status bar shows it (its header's name is a training-run label).
    label = bundled.path.name.removesuffix(".gguf")
    return [FoundModel.read(BUNDLED, label, bundled, trainer)] + [
        model for model in found if model.info.path.resolve() != bundled.path.resolve()]


def use_model(app, path: str | Path | None) -> str:
    """Make `path` the model chats use (None or "default": the bundled one).

    Refuses a file that is not a GGUF or cannot chat, with the reason; the engine is not
    reloaded here (the caller does it, off the UI thread).

    Returns:
        the model's name, for the confirmation.
    """
    if path in (None, "", "default", "bundled"):
        app.settings.set("model_path", None)
        return read_gguf_info(bundled_model_path()).name
    path = Path(path).expanduser().absolute()  # a symlink (HF cache snapshot) stays one
    try:
        check_gguf(path)
        info = read_gguf_info(path)
    except (ModelFileError, GgufReadError) as exc:
        raise ModelError(str(exc)) from exc
    reason = chat_reason(info)
    if reason:
        raise InputError(f"{info.name} cannot chat ({reason}): choose an instruct or chat model.")
    app.settings.set("model_path", str(path))
    return info.name


def download_model(home: Path, repo: str, filename: str, sha256: str | None = None,
                   progress: Callable[[DownloadProgress], None] | None = None,
                   should_stop: Callable[[], bool] | None = None) -> Path:
    """Download a GGUF from Hugging Face into Nocturne's models folder (see download_gguf)."""
    try:
        return download_gguf(repo, filename, downloads_dir(home), sha256=sha256,
                             progress=progress, should_stop=should_stop)
    except DownloadCancelled as exc:
        raise DownloadStopped(str(exc)) from exc
    except DownloadError as exc:
        raise DownloadFailed(str(exc)) from exc
