"""Models people download: base models (no chat template), split GGUFs, and models no trainer
handles (refused before any work, recorded as a skipped run)."""

from __future__ import annotations

import hashlib

import pytest

from app.learning_job import run_learning_job
from app.learning_report import morning_report
from app.runs import TrainingRuns
from ondevice.models import HashCache, ModelFileError, resolve_model
from tests.conftest import run_cli
from tests.tiny_gguf import write_tiny_model


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory, model_path):
    folder = tmp_path_factory.mktemp("tiny-models")
    return {
        "base": write_tiny_model(folder / "tiny-base.gguf", "llama", model_path, chat_template=None),
        "qwen35": write_tiny_model(folder / "tiny-qwen35.gguf", "qwen35", model_path),
        "split": write_tiny_model(folder / "tiny-split.gguf", "qwen2", model_path, split_max_tensors=8),
    }


def test_a_base_model_without_template_is_one_sentence_not_a_traceback(nocturne_home, tiny_models):
    result = run_cli("chat", "--model", str(tiny_models["base"]), "hello", home=nocturne_home)
    stderr = result.stderr.decode()
    assert result.returncode == 1 and "Traceback" not in stderr
    assert "has no chat template" in stderr and "chat_template" in stderr
    assert len(stderr.strip().splitlines()) == 1


def test_the_chat_template_setting_lets_a_base_model_chat(app, tiny_models):
    from ondevice.engine import GenerationOptions, Usage

    app.settings.set("model_path", str(tiny_models["base"]))
    app.settings.set("chat_template", "chatml")
    engine = app.load_engine()
    pieces = list(engine.stream([{"role": "user", "content": "hello"}], GenerationOptions(max_tokens=3)))
    assert isinstance(pieces[-1], Usage) and pieces[-1].completion_tokens > 0
    assert engine.render([{"role": "user", "content": "hi"}]) == "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n"


def test_bad_chat_template_setting_is_one_sentence(nocturne_home, tmp_path):
    result = run_cli("settings", "set", "chat_template", str(tmp_path / "nope.jinja"), home=nocturne_home)
    stderr = result.stderr.decode()
    assert result.returncode != 0 and "Traceback" not in stderr and "chatml" in stderr


def test_chat_and_training_render_the_same_chosen_template(app, tiny_models, tmp_path):
    from ondevice.llama_engine import LlamaEngine
    from ondevice.training.dataset import ChatTemplate

    jinja = tmp_path / "mine.jinja"
    jinja.write_text("{% for m in messages %}[{{ m['role'] }}] {{ m['content'] }}\n{% endfor %}"
                     "{% if add_generation_prompt %}[assistant] {% endif %}")
    app.settings.set("model_path", str(tiny_models["base"]))
    app.settings.set("chat_template", str(jinja))
    model = app.model()
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    engine = LlamaEngine(model, n_threads=1)
    try:
        chat_prompt = engine.render(messages)
    finally:
        engine.close()
    template = ChatTemplate.for_model(model)
    text = template.render(messages + [{"role": "assistant", "content": "Hello."}])
    assert chat_prompt == "[system] Be brief.\n[user] Hi\n[assistant] "
    assert text.startswith(chat_prompt) and template.answer_start(
        messages + [{"role": "assistant", "content": "Hello."}], text) == len(chat_prompt)


def test_known_gemma_template_folds_the_system_prompt_into_the_first_turn(app, tiny_models):
    from ondevice.training.dataset import ChatTemplate

    app.settings.set("model_path", str(tiny_models["base"]))
    app.settings.set("chat_template", "gemma")
    text = ChatTemplate.for_model(app.model()).render([
        {"role": "system", "content": "S."}, {"role": "user", "content": "Q?"},
        {"role": "assistant", "content": "A."}])
    assert text.endswith("<start_of_turn>user\nS.\n\nQ?<end_of_turn>\n<start_of_turn>model\nA.<end_of_turn>\n")


def test_a_split_model_resolves_to_its_first_part_with_an_identity_over_all_parts(tmp_path, tiny_models):
    first = tiny_models["split"]
    parts = sorted(first.parent.glob("tiny-split-*-of-*.gguf"))
    assert len(parts) > 1 and first == parts[0]
    cache = HashCache(tmp_path / "h.json")
    model = resolve_model(parts[-1], cache)  # any part names the model
    assert model.path == first and model.parts == tuple(parts) and model.name == "tiny-split"
    assert model.size == sum(p.stat().st_size for p in parts)
    joined = "\n".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in parts)
    assert model.sha256 == hashlib.sha256(f"split:{joined}".encode()).hexdigest()


def test_a_split_model_with_a_missing_part_is_named(tmp_path, model_path):
    first = write_tiny_model(tmp_path / "cut.gguf", "llama", model_path, split_max_tensors=8)
    last = sorted(tmp_path.glob("cut-*-of-*.gguf"))[-1]
    last.unlink()
    with pytest.raises(ModelFileError, match=f"{last.name} is missing"):
        resolve_model(first, HashCache(tmp_path / "h.json"))


def test_a_split_model_loads_and_chats_in_llama_cpp(tiny_models):
    from llama_cpp import Llama

    llama = Llama(model_path=str(tiny_models["split"]), n_ctx=256, verbose=False)
    try:
        assert llama.n_vocab() > 1000 and len(llama.tokenize(b"hello")) > 0
        assert llama.create_completion("hello", max_tokens=4)["choices"][0]["text"] is not None
    finally:
        llama.close()


def test_an_untrainable_model_is_a_skipped_run_in_milliseconds(app, tiny_models, monkeypatch):
    import app.learning_job as job

    def no_replay(*args, **kwargs):
        raise AssertionError("replay work started for a model that cannot be trained")

    monkeypatch.setattr(job, "base_answers", no_replay)
    app.settings.set("model_path", str(tiny_models["qwen35"]))
    app.memories().add("My cat is called Miso.")
    report = run_learning_job(app)  # no replay, no copy: only the header was read
    assert report.status == "skipped" and "linear-attention" in report.reason
    runs = TrainingRuns(app.store)
    assert runs.last()["status"] == "skipped"
    assert "linear-attention" in morning_report(runs.last_report())  # what the user reads
    assert not (app.home / "cache" / "training").exists()


def test_a_base_model_without_template_is_a_skipped_run_that_says_how(app, tiny_models, monkeypatch):
    import app.learning_job as job

    monkeypatch.setattr(job, "base_answers", lambda *a, **k: pytest.fail("replay work started"))
    app.settings.set("model_path", str(tiny_models["base"]))
    app.memories().add("My cat is called Miso.")
    report = run_learning_job(app)
    assert report.status == "skipped" and "settings set chat_template" in report.reason


def test_learning_status_says_whether_the_model_can_learn(nocturne_home, tiny_models):
    out = run_cli("learning", "status", home=nocturne_home).stdout.decode()
    assert "trains with the llamacpp trainer" in out or "trains with the mlx trainer" in out
    run_cli("settings", "set", "model_path", str(tiny_models["qwen35"]), home=nocturne_home)
    out = run_cli("learning", "status", home=nocturne_home).stdout.decode()
    assert "This model can't be trained here: tiny-qwen35.gguf (qwen35) cannot be trained" in out
