"""Download one GGUF from a Hugging Face repo: progress, resume, sha256 check, cancel.

`huggingface_hub.hf_hub_download` does the HTTP (HEAD for the size and commit, GET with Range
to resume the `.incomplete` file it keeps under `<dest>/.cache/huggingface/download/`). Progress
and cancel go through its tqdm hook: `update()` reports bytes and raises when cancelled, which
leaves the partial file in place for the next attempt to resume.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ondevice.models import file_sha256

SHA256_HEX = 64


class DownloadError(Exception):
    """The download failed; the message says why in one sentence."""


class DownloadCancelled(DownloadError):
    """The user cancelled; the partial file is kept so the next try resumes."""


@dataclass(frozen=True)
class DownloadProgress:
    """Bytes so far, of `total` (None while the size is unknown)."""

    done: int
    total: int | None


def check_request(repo: str, filename: str, sha256: str | None) -> str | None:
    """Validate a download request before any network; returns the sha256 normalized."""
    if repo.count("/") != 1 or not all(repo.split("/")):
        raise DownloadError(f"{repo!r} is not a Hugging Face repo: write it as owner/name.")
    if not filename.lower().endswith(".gguf"):
        raise DownloadError(f"{filename!r} is not a .gguf file: Nocturne runs GGUF models only.")
    if sha256 is None:
        return None
    digest = sha256.strip().lower()
    if len(digest) != SHA256_HEX or any(c not in "0123456789abcdef" for c in digest):
        raise DownloadError("The sha256 must be 64 hexadecimal characters.")
    return digest


def _progress_bar(report: Callable[[DownloadProgress], None] | None,
                  should_stop: Callable[[], bool] | None):
    from huggingface_hub.utils import tqdm as hub_tqdm

    class ProgressHook(hub_tqdm):
        """hf_hub_download's progress bar, turned into callbacks (and a cancel point)."""

        def __init__(self, *args, **kwargs):
            kwargs["disable"] = True  # no terminal bar: the caller draws its own
            super().__init__(*args, **kwargs)

        def update(self, n=1):
            if should_stop is not None and should_stop():
                raise DownloadCancelled("The download was cancelled; it resumes next time.")
            self.n += n  # a disabled tqdm does not count by itself
            if report is not None:
                report(DownloadProgress(done=int(self.n), total=self.total))

    return ProgressHook


def download_gguf(repo: str, filename: str, dest: Path, *, sha256: str | None = None,
                  revision: str = "main", endpoint: str | None = None,
                  progress: Callable[[DownloadProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Path:
    """Download `filename` from the model repo `repo` into the folder `dest`.

    Args:
        repo: "owner/name" on the hub.
        filename: the .gguf file's path in the repo.
        dest: the folder the file goes to (it keeps the repo's sub-folders).
        sha256: expected hex digest; a mismatch deletes the file and raises.
        revision: branch, tag or commit.
        endpoint: the hub's URL (default: $HF_ENDPOINT, else huggingface.co).
        progress: called with DownloadProgress as bytes arrive.
        should_stop: polled as bytes arrive; True cancels (the partial file is kept).
    Returns:
        the downloaded file.
    Raises:
        DownloadCancelled, DownloadError (one sentence each).
    """
    import huggingface_hub
    from huggingface_hub import errors

    expected = check_request(repo, filename, sha256)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        path = Path(huggingface_hub.hf_hub_download(
            repo, filename, revision=revision, local_dir=dest, endpoint=endpoint,
            tqdm_class=_progress_bar(progress, should_stop)))
    except DownloadCancelled:
        raise
    except errors.EntryNotFoundError as exc:
        raise DownloadError(f"{repo} has no file {filename}.") from exc
    except errors.RepositoryNotFoundError as exc:
        raise DownloadError(f"There is no model repo {repo} (or it is private).") from exc
    except errors.RevisionNotFoundError as exc:
        raise DownloadError(f"{repo} has no revision {revision}.") from exc
    except errors.OfflineModeIsEnabled as exc:
        raise DownloadError("Downloads are switched off here (HF_HUB_OFFLINE is set).") from exc
    except (OSError, errors.HfHubHTTPError, ValueError) as exc:
        raise DownloadError(f"The download of {filename} failed ({exc}).") from exc
    if expected is not None:
        actual = file_sha256(path)
        if actual != expected:
            path.unlink(missing_ok=True)
            raise DownloadError(f"{filename} does not match the sha256 given (got {actual}); "
                                "the file was deleted.")
    os.chmod(path, 0o600)  # the data folder is owner-only, and so is what it holds
    return path
