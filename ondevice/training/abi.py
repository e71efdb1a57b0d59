"""Is the installed llama.cpp the one our ctypes bindings were written against?

`ggml_opt.py` lays out C structs by hand (llama-cpp-python does not bind them, or binds them
wrong). Against another llama.cpp a wrong layout does not fail: it trains on garbage or crashes.
So before the trainer touches the library: the llama-cpp-python version must be a tested one,
and the structs the library itself fills in must read back as the C code wrote them. No compiler
is needed (tests/test_llamacpp_trainer.py checks the structs against the header with one).
"""

from __future__ import annotations

import ctypes
from ctypes import POINTER, c_bool, c_char_p, c_int, c_int64, c_size_t, c_void_p

# llama-cpp-python releases whose vendored llama.h / ggml.h / ggml-opt.h match ggml_opt.py.
TESTED_VERSIONS = ("0.3.36",)


class AbiMismatch(Exception):
    """The llama.cpp trainer cannot run on this llama.cpp; the message says why in one sentence.

    `why` is the bare reason, for a status line that says which trainer is off in its own words.
    """

    def __init__(self, why: str):
        self.why = why
        super().__init__(
            f"The llama.cpp trainer is switched off because {why}; Nocturne's training bindings are "
            f"tested with llama-cpp-python {' / '.join(TESTED_VERSIONS)} (chat still works; install "
            "that version, or use --trainer mlx)."
        )


def check_version(version: str) -> None:
    """Raise AbiMismatch unless `version` (llama_cpp.__version__) is a tested release."""
    if version not in TESTED_VERSIONS:
        raise AbiMismatch(f"llama-cpp-python {version} is installed")


class _InitParams(ctypes.Structure):
    """struct ggml_init_params."""

    _fields_ = [("mem_size", c_size_t), ("mem_buffer", c_void_p), ("no_alloc", c_bool)]


# ggml's hard-coded AdamW/SGD defaults (ggml-opt.cpp), read back through our struct layout.
OPTIMIZER_DEFAULTS = {"adamw": (1e-3, 0.9, 0.999, 1e-8, 0.0), "sgd": (1e-3, 0.0)}


def check_layout(ggml, tensor_struct, optimizer_params_struct) -> None:
    """Raise AbiMismatch when structs the library fills read back wrong through our layouts.

    Args:
        ggml: the ctypes handle on libggml-base.
        tensor_struct: our `struct ggml_tensor` layout.
        optimizer_params_struct: our `struct ggml_opt_optimizer_params` layout.
    """
    problems = _optimizer_problems(ggml, optimizer_params_struct) + _tensor_problems(ggml, tensor_struct)
    if problems:
        raise AbiMismatch("the library's structs do not match the bindings (" + "; ".join(problems) + ")")


def _optimizer_problems(ggml, params_struct) -> list[str]:
    # A private prototype: the shared handle's own declaration is left as ggml_opt.py made it.
    getter = ctypes.CFUNCTYPE(params_struct, c_void_p)(("ggml_opt_get_default_optimizer_params", ggml))
    params = getter(None)
    problems = []
    for group, expected in OPTIMIZER_DEFAULTS.items():
        got = tuple(getattr(getattr(params, group), name) for name, _ in getattr(params, group)._fields_)
        if len(got) != len(expected) or any(abs(g - e) > 1e-6 * max(1.0, abs(e)) for g, e in zip(got, expected)):
            problems.append(f"optimizer defaults {group} read as {got}")
    return problems


def _tensor_problems(ggml, tensor_struct) -> list[str]:
    """Make a 3x5 F32 tensor named 'nocturne_abi' in a tiny ggml context and read it back."""
    ggml.ggml_init.argtypes, ggml.ggml_init.restype = [_InitParams], c_void_p
    ggml.ggml_free.argtypes, ggml.ggml_free.restype = [c_void_p], None
    ggml.ggml_new_tensor_2d.argtypes = [c_void_p, c_int, c_int64, c_int64]
    ggml.ggml_new_tensor_2d.restype = c_void_p
    ggml.ggml_set_name.argtypes, ggml.ggml_set_name.restype = [c_void_p, c_char_p], c_void_p
    ggml.ggml_get_data.argtypes, ggml.ggml_get_data.restype = [c_void_p], c_void_p
    ctx = ggml.ggml_init(_InitParams(1 << 16, None, False))
    if not ctx:
        return ["ggml_init failed"]
    try:
        handle = ggml.ggml_new_tensor_2d(ctx, 0, 3, 5)  # GGML_TYPE_F32, ne = (3, 5)
        ggml.ggml_set_name(handle, b"nocturne_abi")
        tensor = ctypes.cast(handle, POINTER(tensor_struct)).contents
        seen = {"type": tensor.type, "ne": tuple(tensor.ne[:2]), "nb": tuple(tensor.nb[:2]),
                "name": tensor.name, "data": tensor.data}
        wanted = {"type": 0, "ne": (3, 5), "nb": (4, 12), "name": b"nocturne_abi",
                  "data": ggml.ggml_get_data(handle)}
    finally:
        ggml.ggml_free(ctx)
    return [f"ggml_tensor.{key} read as {seen[key]!r}, not {wanted[key]!r}"
            for key in wanted if seen[key] != wanted[key]]
