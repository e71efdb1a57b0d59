"""The fast GGUF reader used for conversion reads what gguf's own GGUFReader reads."""

from __future__ import annotations

import numpy as np
import pytest

from ondevice.training.gguf_file import GgufFile


def test_metadata_and_tensors_equal_gguf_readers(model_path):
    import gguf
    from gguf.quants import dequantize

    ours = GgufFile(model_path)
    reader = gguf.GGUFReader(str(model_path))
    assert set(ours.metadata) == {key for key in reader.fields if not key.startswith("GGUF.")}
    for key in ("general.architecture", "llama.block_count", "tokenizer.ggml.tokens",
                "tokenizer.ggml.merges", "tokenizer.ggml.token_type", "llama.rope.freq_base"):
        assert ours.metadata[key] == pytest.approx(reader.fields[key].contents()), key
    assert [t.name for t in ours.tensors] == [t.name for t in reader.tensors]
    for mine, theirs in list(zip(ours.tensors, reader.tensors))[:12]:
        expected = np.asarray(dequantize(theirs.data, theirs.tensor_type), dtype=np.float32)
        assert mine.shape == tuple(int(n) for n in reversed(theirs.shape))
        np.testing.assert_array_equal(mine.to_float32(), expected.reshape(mine.shape))


def test_truncated_file_is_refused_in_one_sentence(tmp_path, model_path):
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(model_path.read_bytes()[:5000])
    with pytest.raises(ValueError, match="runs past the end"):
        GgufFile(cut)
