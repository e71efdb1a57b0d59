"""Model registry: the bundled default, user-chosen files, and the cached sha256."""

from __future__ import annotations

import hashlib

import pytest

from ondevice.models import HashCache, ModelFileError, resolve_model


def test_bundled_model_resolves_with_its_real_hash(model_path, tmp_path):
    model = resolve_model(None, HashCache(tmp_path / "hashes.json"))
    assert model.bundled and model.path == model_path
    assert model.name == "SmolLM2-135M-Instruct.Q4_1"
    assert model.sha256 == hashlib.sha256(model_path.read_bytes()).hexdigest()


def test_hash_is_cached_and_recomputed_when_the_file_changes(tmp_path):
    gguf = tmp_path / "tiny.gguf"
    gguf.write_bytes(b"GGUF" + b"\x00" * 64)
    cache = HashCache(tmp_path / "hashes.json")
    first = resolve_model(gguf, cache).sha256
    assert (tmp_path / "hashes.json").exists()
    # A cached entry is trusted while size and mtime match: prove it is read, not recomputed.
    import json

    entries = json.loads((tmp_path / "hashes.json").read_text())
    key = next(iter(entries))
    entries[key] = "cached-value"
    (tmp_path / "hashes.json").write_text(json.dumps(entries))
    assert resolve_model(gguf, cache).sha256 == "cached-value"
    gguf.write_bytes(b"GGUF" + b"\x01" * 65)  # changed size: a new key, a real hash
    assert resolve_model(gguf, cache).sha256 not in (first, "cached-value")


@pytest.mark.parametrize("content, message", [
    (None, "does not exist"),
    (b"PK\x03\x04zip", "not a GGUF model file"),
    (b"", "not a GGUF model file"),
])
def test_bad_model_files_are_named(tmp_path, content, message):
    path = tmp_path / "model.gguf"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelFileError, match=message):
        resolve_model(path, HashCache(tmp_path / "h.json"))


def test_a_folder_is_not_a_model(tmp_path):
    with pytest.raises(ModelFileError, match="is a folder"):
        resolve_model(tmp_path, HashCache(tmp_path / "h.json"))
