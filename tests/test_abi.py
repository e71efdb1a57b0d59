"""The llama.cpp trainer runs only on the llama.cpp its ctypes bindings were written for."""

from __future__ import annotations

import ctypes
import subprocess
import sys

import pytest

pytest.importorskip("llama_cpp")

from ondevice.architectures import can_learn  # noqa: E402
from ondevice.training import abi, ggml_opt  # noqa: E402
from ondevice.training.select import trainer_class  # noqa: E402
from tests.conftest import REPO  # noqa: E402


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


def test_a_learning_run_is_skipped_and_says_why_the_trainer_is_off(app, fresh_libs, monkeypatch):
    import llama_cpp

    from app.learning_job import run_learning_job

    monkeypatch.setattr(llama_cpp, "__version__", "0.4.0")
    report = run_learning_job(app, trainer="llamacpp")
    assert report.status == "skipped"
    assert "llama-cpp-python 0.4.0 is installed" in report.reason and "0.3.36" in report.reason


class TensorWithFewerSources(ctypes.Structure):  # a ggml.h with GGML_MAX_SRC 8, not 10
    _fields_ = [(n, ctypes.c_void_p * 8) if n == "src" else (n, t) for n, t in ggml_opt.ggml_tensor._fields_]


def test_can_learn_and_learning_status_name_a_version_mismatch_as_the_reason(app, fresh_libs, monkeypatch,
                                                                           model_path):
    import llama_cpp

    from app.cli.learning import status_lines

    monkeypatch.setattr(llama_cpp, "__version__", "0.3.99")
    forced = can_learn(model_path, "llamacpp")
    assert not forced.ok
    assert "llamacpp: its training bindings are switched off because llama-cpp-python 0.3.99 is installed" \
        in forced.reason and "0.3.36" in forced.reason
    assert forced.reason.count(". ") == 0 and forced.reason.endswith(".")
    # The platform's default falls back to MLX when it is there, and says why.
    fallback = can_learn(model_path, None, mlx_installed=True)
    assert fallback.trainer == "mlx" and "the llamacpp trainer cannot (its training bindings" in fallback.reason
    assert not can_learn(model_path, None, mlx_installed=False).ok
    app.settings.set("trainer", "llamacpp")
    assert any(line.startswith("This model can't be trained here:") and "0.3.99" in line
               for line in status_lines(app))


def test_can_learn_names_a_struct_layout_mismatch_as_the_reason(fresh_libs, monkeypatch, model_path):
    monkeypatch.setattr(ggml_opt, "ggml_tensor", TensorWithFewerSources)
    check = can_learn(model_path, "llamacpp")
    assert not check.ok and "the library's structs do not match the bindings (ggml_tensor.name" in check.reason


def test_importing_the_trainer_never_raises_on_a_mismatch(model_path):
    # A fresh interpreter: the modules are imported for the first time under a wrong version.
    code = ("import llama_cpp; llama_cpp.__version__ = '0.9.9'\n"
            "import ondevice.training.llamacpp_trainer, ondevice.training.select, app.learning_job\n"
            "from ondevice.architectures import can_learn\n"
            f"print(can_learn({str(model_path)!r}, 'llamacpp').reason)\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "llama-cpp-python 0.9.9 is installed" in done.stdout and "Traceback" not in done.stderr


def test_a_struct_layout_that_differs_from_the_library_is_caught(fresh_libs):
    libs = ggml_opt.libs()

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
