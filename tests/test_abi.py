"""The llama.cpp trainer runs only on the llama.cpp its ctypes bindings were written for."""

from __future__ import annotations

import ctypes
import sys

import pytest

pytest.importorskip("llama_cpp")

from ondevice.training import abi, ggml_opt  # noqa: E402
from ondevice.training.select import trainer_class  # noqa: E402


@pytest.fixture
def fresh_libs():
    ggml_opt.libs.cache_clear()
    yield
    ggml_opt.libs.cache_clear()


def test_the_installed_library_matches_the_bindings(fresh_libs):
    libs = ggml_opt.libs()
    abi.check_layout(libs.ggml, ggml_opt.ggml_tensor, ggml_opt.ggml_opt_optimizer_params)
    assert trainer_class("llamacpp").__name__ == "LlamaCppTrainer"


def test_an_untested_llama_cpp_version_switches_the_trainer_off_in_one_sentence(fresh_libs, monkeypatch):
    import llama_cpp

    monkeypatch.setattr(llama_cpp, "__version__", "0.3.99")
    with pytest.raises(abi.AbiMismatch) as caught:
        trainer_class("llamacpp")
    message = str(caught.value)
    assert "0.3.99" in message and "0.3.36" in message and "chat still works" in message
    assert message.count(". ") == 0 and "\n" not in message


def test_a_learning_run_says_why_the_trainer_is_off(app, fresh_libs, monkeypatch):
    import llama_cpp

    from app.learning_job import LearningError, run_learning_job

    monkeypatch.setattr(llama_cpp, "__version__", "0.4.0")
    with pytest.raises(LearningError, match="llama.cpp trainer is switched off because llama-cpp-python 0.4.0"):
        run_learning_job(app, trainer="llamacpp")


def test_a_struct_layout_that_differs_from_the_library_is_caught(fresh_libs):
    libs = ggml_opt.libs()

    class TensorWithFewerSources(ctypes.Structure):  # a ggml.h with GGML_MAX_SRC 8, not 10
        _fields_ = [(n, ctypes.c_void_p * 8) if n == "src" else (n, t) for n, t in ggml_opt.ggml_tensor._fields_]

    class AdamWithoutEps(ctypes.Structure):
        _fields_ = [(n, t) for n, t in ggml_opt.AdamWParams._fields_ if n != "eps"]

    class OptimizerParams(ctypes.Structure):
        _fields_ = [("adamw", AdamWithoutEps), ("sgd", ggml_opt.SGDParams)]

    with pytest.raises(abi.AbiMismatch, match="ggml_tensor.name"):
        abi.check_layout(libs.ggml, TensorWithFewerSources, ggml_opt.ggml_opt_optimizer_params)
    with pytest.raises(abi.AbiMismatch, match="optimizer defaults adamw"):
        abi.check_layout(libs.ggml, ggml_opt.ggml_tensor, OptimizerParams)


@pytest.mark.parametrize("platform, present, expected", [
    ("linux", ["libllama.so"], "libllama.so"),
    ("darwin", ["libllama.dylib"], "libllama.dylib"),
    ("darwin", ["libllama.so"], "libllama.so"),
    ("win32", ["llama.dll"], "llama.dll"),
])
def test_the_shared_library_is_named_as_the_platform_names_it(tmp_path, monkeypatch, platform, present, expected):
    for name in present:
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setattr(sys, "platform", platform)
    assert ggml_opt.library_file(tmp_path, "llama") == tmp_path / expected
