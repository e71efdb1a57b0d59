"""Tiny real GGUF files (written with the gguf package) planted where other apps keep models."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

# 8x4 + 4x4 + 4 = 52 parameters in every tiny model below.
TINY_PARAMETERS = 52
TEMPLATE = "{% for m in messages %}<|{{ m.role }}|>{{ m.content }}{% endfor %}<|assistant|>"


def write_gguf(path: Path, architecture: str = "llama", name: str = "Tiny",
               chat_template: bool = True, file_type: int | None = None) -> Path:
    """A valid GGUF with a header as real converters write it, and three tiny tensors."""
    import gguf

    path.parent.mkdir(parents=True, exist_ok=True)
    writer = gguf.GGUFWriter(str(path), architecture)
    writer.add_name(name)
    writer.add_context_length(128)
    if chat_template:
        writer.add_chat_template(TEMPLATE)
    if file_type is not None:
        writer.add_file_type(file_type)
    writer.add_tensor("token_embd.weight", np.zeros((8, 4), dtype=np.float32))
    writer.add_tensor("blk.0.attn_q.weight", np.zeros((4, 4), dtype=np.float32))
    writer.add_tensor("blk.0.attn_norm.weight", np.ones(4, dtype=np.float32))
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def plant_ollama(models: Path, tag_path: str, **gguf_args) -> Path:
    """An Ollama model: the GGUF as a sha256-named blob, and a manifest that points at it."""
    staging = write_gguf(models / "staging.gguf", **gguf_args)
    data = staging.read_bytes()
    staging.unlink()
    digest = hashlib.sha256(data).hexdigest()
    blob = models / "blobs" / f"sha256-{digest}"
    blob.parent.mkdir(parents=True, exist_ok=True)
    blob.write_bytes(data)
    config = models / "blobs" / ("sha256-" + "0" * 64)
    config.write_text("{}")
    manifest = models / "manifests" / "registry.ollama.ai" / tag_path
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_text(json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "digest": "sha256:" + "0" * 64, "size": 2},
        "layers": [
            {"mediaType": "application/vnd.ollama.image.model", "digest": f"sha256:{digest}",
             "size": len(data)},
            {"mediaType": "application/vnd.ollama.image.template",
             "digest": "sha256:" + "0" * 64, "size": 2},
        ]}))
    return blob


@pytest.fixture
def user_home(tmp_path, monkeypatch) -> Path:
    """A fresh, empty home folder: other apps' model folders are searched only there."""
    home = tmp_path / "user"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("XDG_DATA_HOME", "XDG_CACHE_HOME", "HF_HOME", "HF_HUB_CACHE", "OLLAMA_MODELS",
                 "LOCALAPPDATA"):
        monkeypatch.delenv(name, raising=False)
    return home


def plant_other_apps(home: Path) -> dict[str, Path]:
    """One model in each of LM Studio's, Ollama's, GPT4All's, Jan's and the HF cache's folders."""
    import gguf

    planted = {
        "LM Studio": write_gguf(
            home / ".lmstudio/models/lmstudio-community/Tiny-Llama-GGUF/tiny-llama-Q4_1.gguf",
            name="Tiny Llama", file_type=gguf.LlamaFileType.MOSTLY_Q4_1),
        "Ollama": plant_ollama(home / ".ollama/models", "library/tinyqwen/0.5b",
                               architecture="qwen2", name="Tiny Qwen"),
        "GPT4All": write_gguf(home / ".local/share/nomic.ai/GPT4All/tiny-gemma-base.gguf",
                              architecture="gemma3", name="Tiny Gemma base", chat_template=False),
        "Jan": write_gguf(home / "jan/models/tiny-jan/model.gguf", name="Tiny Jan"),
    }
    snapshot = home / ".cache/huggingface/hub/models--someone--Tiny-GGUF"
    blob = write_gguf(snapshot / "blobs/abc123", name="Tiny HF")
    link = snapshot / "snapshots" / ("c" * 40) / "tiny-hf.gguf"
    link.parent.mkdir(parents=True)
    link.symlink_to(Path("../../blobs/abc123"))
    planted["Hugging Face"] = link
    assert blob.exists()
    return planted
