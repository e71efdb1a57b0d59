"""Download one GGUF from a Hugging Face repo: progress, resume, sha256 check, cancel.

huggingface_hub does the HTTP: `get_hf_file_metadata` (HEAD: size, etag, commit, CDN location)
and `http_get` (GET, with Range from `resume_size`, retrying dropped connections). The partial
file is ours (`<dest>/.partial/<file>.part`, next to the etag it belongs to), because
`hf_hub_download` deletes its partial file on any failure and so cannot resume after a cancel.
Progress and cancel go through http_get's tqdm hook: `update()` reports bytes and raises when
cancelled.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from ondevice.models import file_sha256

SHA256_HEX = 64
SHA256_ETAG = re.compile(r"[0-9a-f]{64}")
PARTIAL_DIR = ".partial"


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


def _partial_for(dest: Path, filename: str, etag: str | None) -> Path:
    """The partial file to append to: kept only if it belongs to the same version (etag)."""
    partial = dest / PARTIAL_DIR / f"{filename}.part"
    stamp = partial.with_name(partial.name + ".etag")
    partial.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    try:
        same = stamp.read_text() == str(etag)
    except OSError:
        same = False
    if not same:  # another version of the file (or none yet): start from zero
        partial.unlink(missing_ok=True)
        stamp.write_text(str(etag))
    return partial


def download_gguf(repo: str, filename: str, dest: Path, *, sha256: str | None = None,
                  revision: str = "main", endpoint: str | None = None,
                  progress: Callable[[DownloadProgress], None] | None = None,
                  should_stop: Callable[[], bool] | None = None) -> Path:
    """Download `filename` from the model repo `repo` into the folder `dest`.

    Args:
        repo: "owner/name" on the hub.
        filename: the .gguf file's path in the repo.
        dest: the folder the file goes to (it keeps the repo's sub-folders).
        sha256: expected hex digest. Without it, the hub's LFS etag (the file's sha256) is
            checked instead when there is one. A mismatch deletes the file and raises.
        revision: branch, tag or commit.
        endpoint: the hub's URL (default: $HF_ENDPOINT, else huggingface.co).
        progress: called with DownloadProgress as bytes arrive.
        should_stop: polled as bytes arrive; True cancels (the partial file is kept).
    Returns:
        the downloaded file.
    Raises:
        DownloadCancelled, DownloadError (one sentence each).
    """
    from huggingface_hub import errors, get_hf_file_metadata, hf_hub_url
    from huggingface_hub.file_download import http_get

    expected = check_request(repo, filename, sha256)
    # Read now, not when huggingface_hub was imported (the app imports it early, off the UI thread).
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    target = dest / filename
    try:
        meta = get_hf_file_metadata(hf_hub_url(repo, filename, revision=revision,
                                               endpoint=endpoint), endpoint=endpoint)
        if expected is None and meta.etag and SHA256_ETAG.fullmatch(meta.etag):
            expected = meta.etag  # an LFS file's etag is its sha256
        partial = _partial_for(dest, filename, meta.etag)
        with open(partial, "ab") as handle:
            http_get(meta.location, handle, resume_size=handle.tell(), expected_size=meta.size,
                     displayed_filename=filename, tqdm_class=_progress_bar(progress, should_stop))
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
    except Exception as exc:  # network, disk, HTTP: all end as one sentence
        raise DownloadError(f"The download of {filename} failed ({exc}); try again to "
                            "resume it.") from exc
    if expected is not None:
        actual = file_sha256(partial)
        if actual != expected:
            partial.unlink(missing_ok=True)
            raise DownloadError(f"{filename} does not match the sha256 expected (got {actual}); "
                                "the file was deleted.")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(partial, 0o600)  # the data folder is owner-only, and so is what it holds
    os.replace(partial, target)
    partial.with_name(partial.name + ".etag").unlink(missing_ok=True)
    return target
