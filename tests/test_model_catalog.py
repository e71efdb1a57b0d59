"""Finding other apps' GGUFs, describing them from their headers, choosing one (CLI too)."""

from __future__ import annotations

import pytest

from app.errors import InputError, ModelError
from app.model_library import available_models, use_model
from ondevice.architectures import can_learn
from ondevice.gguf_info import chat_reason, read_gguf_info
from ondevice.model_catalog import discover
from tests.conftest import run_cli
from tests.gguf_helpers import TINY_PARAMETERS, plant_other_apps, user_home, write_gguf
from tests.tiny_gguf import write_tiny_model

__all__ = ["user_home"]  # the fixture, imported for pytest


def test_finds_a_model_in_each_app_folder_and_reads_its_header(user_home):
    planted = plant_other_apps(user_home)
    (user_home / ".lmstudio/models/broken.gguf").write_bytes(b"GGUF but then nothing useful")
    found = {model.source: model for model in discover(user_home)}

    assert sorted(found) == sorted(planted)  # the damaged file is skipped, not an error
    lm = found["LM Studio"]
    assert lm.label == "lmstudio-community/Tiny-Llama-GGUF/tiny-llama-Q4_1"
    assert (lm.info.name, lm.info.architecture) == ("Tiny Llama", "llama")
    assert lm.info.parameters == TINY_PARAMETERS
    assert lm.info.quantization == "Q4_1"
    assert lm.info.size == planted["LM Studio"].stat().st_size
    assert chat_reason(lm.info) is None
    assert "incomplete" in lm.cannot_learn  # three tensors: not a whole llama

    ollama = found["Ollama"]
    assert ollama.label == "tinyqwen:0.5b"
    assert ollama.info.path == planted["Ollama"] and ollama.info.architecture == "qwen2"
    assert chat_reason(ollama.info) is None
    assert ollama.cannot_learn.startswith(ollama.info.path.name)

    gpt4all = found["GPT4All"]
    assert gpt4all.info.quantization == "F32"  # no file type in the header: read off the tensors
    assert "no chat template" in chat_reason(gpt4all.info)
    assert gpt4all.cannot_learn is not None

    assert found["Jan"].label == "tiny-jan/model"
    assert found["Hugging Face"].label == "someone/Tiny-GGUF/tiny-hf"


def test_the_learn_column_says_what_the_nightly_job_will_do(user_home, model_path):
    folder = user_home / ".lmstudio/models/tiny"
    folder.mkdir(parents=True)
    for arch in ("llama", "qwen2", "qwen3", "qwen35"):
        write_tiny_model(folder / f"{arch}.gguf", arch, model_path)
    write_tiny_model(folder / "base.gguf", "qwen2", model_path, chat_template=None)
    found = {model.info.path.stem: model for model in discover(user_home)}

    for arch in ("llama", "qwen2", "qwen3"):  # the families the trainers train (README table)
        assert found[arch].cannot_learn is None and can_learn(found[arch].info.path).ok
    assert "linear-attention" in found["qwen35"].cannot_learn
    assert found["qwen35"].cannot_learn == can_learn(found["qwen35"].info.path).reason
    assert found["base"].cannot_learn == "base.gguf has no chat template to train answers in."
    # The trainer setting decides too, as it does for the nightly job: llama.cpp cannot do Gemma 3.
    write_tiny_model(folder / "gemma3.gguf", "gemma3", model_path)
    gemma = next(m for m in discover(user_home, trainer="llamacpp") if m.info.path.stem == "gemma3")
    assert "GEGLU" in gemma.cannot_learn and gemma.cannot_learn == can_learn(gemma.info.path, "llamacpp").reason


def test_a_file_found_twice_is_listed_once(user_home):
    original = write_gguf(user_home / ".lmstudio/models/a/one.gguf")
    (user_home / "jan/models").mkdir(parents=True)
    (user_home / "jan/models/one.gguf").symlink_to(original)
    assert [m.source for m in discover(user_home)] == ["LM Studio"]


def test_a_split_model_is_listed_once_with_all_its_parts_counted(user_home, model_path):
    for folder in (".lmstudio/models/tiny", "elsewhere"):
        (user_home / folder).mkdir(parents=True)
    first = write_tiny_model(user_home / ".lmstudio/models/tiny/split.gguf", "llama", model_path,
                             split_max_tensors=8)
    parts = sorted(first.parent.glob("split-*-of-*.gguf"))
    whole = write_tiny_model(user_home / "elsewhere/whole.gguf", "llama", model_path)
    assert len(parts) >= 2 and first == parts[0]
    found = discover(user_home)
    assert [m.info.path for m in found] == [first]
    assert found[0].info.parameters == read_gguf_info(whole).parameters
    assert found[0].info.size == sum(p.stat().st_size for p in parts)


def test_no_other_app_installed_leaves_the_bundled_model(user_home, app):
    models = available_models(app.home)
    assert [m.source for m in models] == ["Bundled"]
    assert models[0].info.architecture == "llama" and models[0].info.chat_template


def test_use_a_found_model_and_go_back_to_the_bundled_one(user_home, app):
    planted = plant_other_apps(user_home)
    assert use_model(app, planted["Ollama"]) == "Tiny Qwen"
    assert app.settings.get("model_path") == str(planted["Ollama"])
    use_model(app, "default")
    assert app.settings.get("model_path") is None


def test_a_model_that_cannot_chat_or_is_not_gguf_is_refused_and_nothing_changes(user_home, app,
                                                                               tmp_path):
    planted = plant_other_apps(user_home)
    with pytest.raises(InputError, match="cannot chat"):
        use_model(app, planted["GPT4All"])
    text = tmp_path / "notes.gguf"
    text.write_text("not a model")
    with pytest.raises(ModelError, match="not a GGUF"):
        use_model(app, text)
    with pytest.raises(ModelError, match="does not exist"):
        use_model(app, tmp_path / "missing.gguf")
    assert app.settings.get("model_path") is None


def test_reading_a_header_reads_metadata_not_weights(tmp_path):
    path = write_gguf(tmp_path / "m.gguf")
    info = read_gguf_info(path)
    assert info.chat_template and info.parameters == TINY_PARAMETERS


def test_cli_lists_uses_and_refuses(user_home, nocturne_home):
    planted = plant_other_apps(user_home)
    env = {"HOME": str(user_home)}
    listing = run_cli("models", "list", home=nocturne_home, env=env, timeout=120)
    assert listing.returncode == 0, listing.stderr.decode()
    out = listing.stdout.decode()
    for source in ("Bundled", "LM Studio", "Ollama", "GPT4All", "Jan", "Hugging Face"):
        assert source in out
    bundled_line = next(line for line in out.splitlines() if "Bundled" in line)
    assert bundled_line.startswith("*")  # the default stays the bundled model
    assert "tinyqwen:0.5b" in out
    learn_column = out.splitlines()[0].index("LEARN")
    assert bundled_line[learn_column:].startswith("yes ")  # the bundled model trains
    assert f"no: {planted['Ollama'].name} lacks qwen2.block_count" in out  # a header-only qwen2

    used = run_cli("models", "use", str(planted["LM Studio"]), home=nocturne_home, env=env)
    assert used.returncode == 0 and "Tiny Llama" in used.stdout.decode()
    refused = run_cli("models", "use", str(planted["GPT4All"]), home=nocturne_home, env=env)
    assert refused.returncode == 1
    message = refused.stderr.decode()
    assert "cannot chat" in message and "Traceback" not in message and message.count("\n") == 1
    listing = run_cli("models", "list", home=nocturne_home, env=env).stdout.decode()
    assert next(line for line in listing.splitlines() if "tiny-llama" in line).startswith("*")
    # A Hugging Face cache file is a symlink into blobs/: chosen by its link, shown as in use.
    assert run_cli("models", "use", str(planted["Hugging Face"]), home=nocturne_home,
                   env=env).returncode == 0
    listing = run_cli("models", "list", home=nocturne_home, env=env).stdout.decode()
    assert next(line for line in listing.splitlines() if "tiny-hf" in line).startswith("*")


def test_the_fast_header_reader_agrees_with_gguf_reader_on_the_bundled_model(model_path):
    import gguf

    reader = gguf.GGUFReader(model_path)
    info = read_gguf_info(model_path)
    assert info.parameters == sum(int(t.n_elements) for t in reader.tensors)
    assert info.architecture == reader.fields["general.architecture"].contents()
    assert info.name == reader.fields["general.name"].contents()
    assert info.chat_template == ("tokenizer.chat_template" in reader.fields)
    file_type = gguf.LlamaFileType(reader.fields["general.file_type"].contents())
    assert info.quantization == file_type.name.removeprefix("MOSTLY_")


def test_a_damaged_header_is_one_sentence_and_never_hangs(tmp_path):
    from ondevice.gguf_info import GgufReadError

    good = write_gguf(tmp_path / "good.gguf").read_bytes()
    for cut in (3, 10, 40, len(good) // 2):
        damaged = tmp_path / f"cut{cut}.gguf"
        damaged.write_bytes(good[:cut])
        with pytest.raises(GgufReadError, match=f"cut{cut}.gguf is (truncated|not a GGUF model file)"):
            read_gguf_info(damaged)
    # A string array claiming 2**60 entries ends at the file's end, not after 2**60 steps.
    huge = tmp_path / "huge.gguf"
    huge.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + (0).to_bytes(8, "little")
                     + (1).to_bytes(8, "little") + (3).to_bytes(8, "little") + b"key"
                     + (9).to_bytes(4, "little") + (8).to_bytes(4, "little")
                     + (2**60).to_bytes(8, "little") + b"\x01" * 64)
    with pytest.raises(GgufReadError):
        read_gguf_info(huge)
