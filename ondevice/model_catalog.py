"""Find the GGUF models other apps already keep on this machine (no network, no copying).

Where they live, per app:
- LM Studio: ~/.lmstudio/models (and the older ~/.cache/lm-studio/models), any depth.
- Ollama: models/manifests/<registry>/<namespace>/<model>/<tag> are JSON manifests; the layer
  with mediaType application/vnd.ollama.image.model names a blob, models/blobs/sha256-<hex>.
- GPT4All: <user data dir>/nomic.ai/GPT4All/*.gguf.
- Jan: ~/jan/models (older versions) and <user data dir>/Jan/data (newer), any depth.
- Hugging Face hub cache: <cache>/models--<org>--<repo>/snapshots/<commit>/*.gguf.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from ondevice.gguf_header import later_split_part
from ondevice.gguf_info import GgufInfo, GgufReadError, read_gguf_info

OLLAMA_MODEL_LAYER = "application/vnd.ollama.image.model"


@dataclass(frozen=True)
class FoundModel:
    """A GGUF found on disk: where it came from, how it is called there, and its header."""

    source: str  # "LM Studio", "Ollama", "GPT4All", "Jan", "Hugging Face", "Nocturne"
    label: str  # the name the source app shows (e.g. "llama3.2:1b" for Ollama)
    info: GgufInfo
    cannot_learn: str | None  # why nightly learning cannot train it (architectures.learn_reason)

    @classmethod
    def read(cls, source: str, label: str, info: GgufInfo, trainer: str | None = None) -> "FoundModel":
        """The model with its learning answer for `trainer` (the setting), worked out once,
        off the UI thread."""
        from ondevice.architectures import learn_reason

        return cls(source, label, info, learn_reason(info, trainer))


def _user_data_root(home: Path) -> Path:
    """The platform's per-user data folder, under `home` (tests plant a fake home)."""
    if sys.platform == "darwin":
        return home / "Library" / "Application Support"
    if sys.platform == "win32":
        return Path(os.environ.get("LOCALAPPDATA") or home / "AppData" / "Local")
    return Path(os.environ.get("XDG_DATA_HOME") or home / ".local" / "share")


def _hf_hub_cache(home: Path) -> Path:
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"])
    hf_home = os.environ.get("HF_HOME")
    if hf_home:
        return Path(hf_home) / "hub"
    cache = os.environ.get("XDG_CACHE_HOME") or home / ".cache"
    return Path(cache) / "huggingface" / "hub"


def _ollama_models(home: Path) -> list[Path]:
    if os.environ.get("OLLAMA_MODELS"):
        return [Path(os.environ["OLLAMA_MODELS"])]
    folders = [home / ".ollama" / "models"]
    if sys.platform.startswith("linux"):
        folders.append(Path("/usr/share/ollama/.ollama/models"))  # the system service's
    return folders


def _gguf_files(folder: Path) -> list[tuple[str, Path]]:
    """Every *.gguf under `folder`, labelled by its path inside it."""
    if not folder.is_dir():
        return []
    found = []
    for path in sorted(folder.rglob("*.gguf")):
        if path.is_file() and "mmproj" not in path.name.lower():  # vision projectors don't chat
            found.append((str(path.relative_to(folder).with_suffix("")), path))
    return found


def _ollama_files(models: Path) -> list[tuple[str, Path]]:
    """Ollama's tagged models: the model layer's blob of each manifest."""
    manifests = models / "manifests"
    if not manifests.is_dir():
        return []
    found = []
    for manifest in sorted(p for p in manifests.rglob("*") if p.is_file()):
        try:
            layers = json.loads(manifest.read_text(encoding="utf-8")).get("layers", [])
        except (OSError, ValueError, AttributeError):
            continue  # not a manifest (or damaged): Ollama itself would skip it too
        for layer in layers:
            if isinstance(layer, dict) and layer.get("mediaType") == OLLAMA_MODEL_LAYER:
                blob = models / "blobs" / str(layer.get("digest", "")).replace(":", "-")
                parts = manifest.relative_to(manifests).parts
                # registry.ollama.ai/library/llama3.2/1b -> "llama3.2:1b"
                name = parts[-2] if len(parts) >= 2 and parts[-3:-2] == ("library",) else \
                    "/".join(parts[1:-1])
                if blob.is_file():
                    found.append((f"{name}:{parts[-1]}", blob))
    return found


def _hf_files(cache: Path) -> list[tuple[str, Path]]:
    found = []
    if not cache.is_dir():
        return found
    for repo in sorted(cache.glob("models--*")):
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        for path in sorted(repo.glob("snapshots/*/**/*.gguf")):
            if path.is_file():
                found.append((f"{repo_id}/{path.name.removesuffix('.gguf')}", path))
    return found


def model_sources(home: Path | None = None) -> list[tuple[str, list[tuple[str, Path]]]]:
    """The folders other apps keep GGUFs in, with the files found there (unread)."""
    home = Path.home() if home is None else Path(home)
    data = _user_data_root(home)
    sources = [
        ("LM Studio", _gguf_files(home / ".lmstudio" / "models")
         + _gguf_files(home / ".cache" / "lm-studio" / "models")),
        ("Ollama", [f for folder in _ollama_models(home) for f in _ollama_files(folder)]),
        ("GPT4All", _gguf_files(data / "nomic.ai" / "GPT4All")),
        ("Jan", _gguf_files(home / "jan" / "models") + _gguf_files(data / "Jan" / "data")),
        ("Hugging Face", _hf_files(_hf_hub_cache(home))),
    ]
    return sources


def discover(home: Path | None = None, extra: list[tuple[str, Path]] = (),
             trainer: str | None = None) -> list[FoundModel]:
    """Every GGUF other apps keep, plus `extra` (source, folder) pairs, each read once.

    A file that two sources share (a symlink, a hard copy by path) is listed once; a file whose
    header cannot be read is skipped, since it could not be loaded either.

    Args:
        home: the user's home folder (default: Path.home()).
        extra: more (source name, folder) pairs to search, e.g. Nocturne's own downloads.
        trainer: the trainer setting, for whether each model can learn (None: the platform's).
    Returns:
        the models found, in source order.
    """
    sources = model_sources(home)
    sources += [(name, _gguf_files(Path(folder))) for name, folder in extra]
    seen: set[Path] = set()
    found = []
    for source, files in sources:
        for label, path in files:
            real = path.resolve()
            if real in seen or later_split_part(path):  # a split model is listed by its first part
                continue
            seen.add(real)
            try:
                info = read_gguf_info(path)
            except GgufReadError:
                continue
            found.append(FoundModel.read(source, label, info, trainer))
    return found
