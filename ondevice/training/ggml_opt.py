"""ctypes bindings for the training API that llama-cpp-python does not bind (correctly).

Matches the llama.cpp vendored in llama-cpp-python 0.3.36 (`include/llama.h`,
`ggml/include/ggml-opt.h`, `ggml/include/ggml.h`). llama-cpp-python's own `llama_opt_params`
stops before `optimizer_type` (40 bytes instead of 48), so passing it by value hands
llama_opt_init garbage for the optimizer; everything that takes that struct is rebound here.
"""

from __future__ import annotations

import ctypes
import sys
from ctypes import POINTER, c_bool, c_char_p, c_float, c_int, c_int64, c_size_t, c_uint32, c_void_p
from functools import lru_cache
from pathlib import Path

from . import abi

# enum ggml_type values used by the dataset tensors
GGML_TYPE_F32 = 0
GGML_TYPE_I32 = 26

# enum ggml_opt_optimizer_type
GGML_OPT_OPTIMIZER_TYPE_ADAMW = 0
GGML_OPT_OPTIMIZER_TYPE_SGD = 1

GGML_MAX_DIMS = 4


class AdamWParams(ctypes.Structure):
    _fields_ = [
        ("alpha", c_float),  # learning rate
        ("beta1", c_float),
        ("beta2", c_float),
        ("eps", c_float),
        ("wd", c_float),  # decoupled weight decay, 0 disables
    ]


class SGDParams(ctypes.Structure):
    _fields_ = [("alpha", c_float), ("wd", c_float)]


class ggml_opt_optimizer_params(ctypes.Structure):  # noqa: N801 - C name on purpose
    _fields_ = [("adamw", AdamWParams), ("sgd", SGDParams)]


# typedef struct ggml_opt_optimizer_params (*ggml_opt_get_optimizer_params)(void * userdata);
# ctypes cannot build a Python callback that returns a struct by value, so the trainer points
# this at the C function ggml_opt_get_constant_optimizer_params instead (see below); the type
# is therefore a plain function pointer.
ggml_opt_get_optimizer_params = c_void_p

# typedef bool (*llama_opt_param_filter)(const struct ggml_tensor * tensor, void * userdata);
llama_opt_param_filter = ctypes.CFUNCTYPE(c_bool, c_void_p, c_void_p)

# typedef void (*ggml_opt_epoch_callback)(bool train, ggml_opt_context_t, ggml_opt_dataset_t,
#     ggml_opt_result_t, int64_t ibatch, int64_t ibatch_max, int64_t t_start_us);
ggml_opt_epoch_callback = ctypes.CFUNCTYPE(
    None, c_bool, c_void_p, c_void_p, c_void_p, c_int64, c_int64, c_int64
)


class llama_opt_params(ctypes.Structure):  # noqa: N801 - C name on purpose
    """The full C struct (48 bytes on x86_64), including `optimizer_type`."""

    _fields_ = [
        ("n_ctx_train", c_uint32),  # 0: use the context's n_ctx
        ("param_filter", llama_opt_param_filter),
        ("param_filter_ud", c_void_p),
        ("get_opt_pars", ggml_opt_get_optimizer_params),
        ("get_opt_pars_ud", c_void_p),
        ("optimizer_type", c_int),  # enum ggml_opt_optimizer_type
    ]


GGML_MAX_SRC = 10
GGML_MAX_OP_PARAMS = 64
GGML_MAX_NAME = 64


class ggml_tensor(ctypes.Structure):  # noqa: N801 - C name on purpose
    """`struct ggml_tensor` as ggml.h lays it out (read only: we never create tensors)."""


ggml_tensor._fields_ = [
    ("type", c_int),
    ("buffer", c_void_p),
    ("ne", c_int64 * GGML_MAX_DIMS),
    ("nb", c_size_t * GGML_MAX_DIMS),
    ("op", c_int),
    ("op_params", ctypes.c_int32 * (GGML_MAX_OP_PARAMS // 4)),
    ("flags", ctypes.c_int32),
    ("src", POINTER(ggml_tensor) * GGML_MAX_SRC),
    ("view_src", POINTER(ggml_tensor)),
    ("view_offs", c_size_t),
    ("data", c_void_p),
    ("name", ctypes.c_char * GGML_MAX_NAME),
    ("extra", c_void_p),
    ("padding", ctypes.c_char * 8),
]


def lib_dir() -> Path:
    """Directory of the shared libraries bundled with llama-cpp-python."""
    import llama_cpp

    return Path(llama_cpp.__file__).parent / "lib"


def library_file(directory: Path, name: str) -> Path:
    """The shared library `name` ("llama", "ggml-base") as this platform names it in `directory`.

    llama-cpp-python builds lib<name>.so on Linux, lib<name>.dylib (or .so) on macOS and
    <name>.dll on Windows; the first that exists wins.
    """
    if sys.platform == "win32":
        candidates = [f"{name}.dll", f"lib{name}.dll"]
    elif sys.platform == "darwin":
        candidates = [f"lib{name}.dylib", f"lib{name}.so"]
    else:
        candidates = [f"lib{name}.so"]
    for candidate in candidates:
        if (directory / candidate).is_file():
            return directory / candidate
    return directory / candidates[0]  # CDLL then names the missing file in its error


class _Libs:
    """Typed handles on libllama and libggml-base; functions are looked up once.

    Raises:
        abi.AbiMismatch: the installed llama.cpp is not the one these bindings match.
    """

    def __init__(self) -> None:
        import llama_cpp  # loads libllama and its ggml dependencies first

        abi.check_version(llama_cpp.__version__)
        directory = lib_dir()
        self.llama = ctypes.CDLL(str(library_file(directory, "llama")))
        self.ggml = ctypes.CDLL(str(library_file(directory, "ggml-base")))
        abi.check_layout(self.ggml, ggml_tensor, ggml_opt_optimizer_params)
        self._declare()

    def _declare(self) -> None:
        ll, gg = self.llama, self.ggml

        ll.llama_opt_init.argtypes = [c_void_p, c_void_p, llama_opt_params]
        ll.llama_opt_init.restype = None
        ll.llama_opt_epoch.argtypes = [
            c_void_p,  # llama_context *
            c_void_p,  # ggml_opt_dataset_t
            c_void_p,  # ggml_opt_result_t result_train
            c_void_p,  # ggml_opt_result_t result_eval
            c_int64,  # idata_split
            ggml_opt_epoch_callback,
            ggml_opt_epoch_callback,
        ]
        ll.llama_opt_epoch.restype = None

        gg.ggml_opt_dataset_init.argtypes = [c_int, c_int, c_int64, c_int64, c_int64, c_int64]
        gg.ggml_opt_dataset_init.restype = c_void_p
        gg.ggml_opt_dataset_free.argtypes = [c_void_p]
        gg.ggml_opt_dataset_free.restype = None
        gg.ggml_opt_dataset_data.argtypes = [c_void_p]
        gg.ggml_opt_dataset_data.restype = c_void_p
        gg.ggml_opt_dataset_labels.argtypes = [c_void_p]
        gg.ggml_opt_dataset_labels.restype = c_void_p

        gg.ggml_opt_result_init.argtypes = []
        gg.ggml_opt_result_init.restype = c_void_p
        gg.ggml_opt_result_free.argtypes = [c_void_p]
        gg.ggml_opt_result_free.restype = None
        gg.ggml_opt_result_reset.argtypes = [c_void_p]
        gg.ggml_opt_result_reset.restype = None

        gg.ggml_opt_reset.argtypes = [c_void_p, c_bool]
        gg.ggml_opt_reset.restype = None

        gg.ggml_opt_get_default_optimizer_params.argtypes = [c_void_p]
        gg.ggml_opt_get_default_optimizer_params.restype = ggml_opt_optimizer_params

        gg.ggml_get_data.argtypes = [c_void_p]
        gg.ggml_get_data.restype = c_void_p
        gg.ggml_get_name.argtypes = [c_void_p]
        gg.ggml_get_name.restype = c_char_p
        gg.ggml_nbytes.argtypes = [c_void_p]
        gg.ggml_nbytes.restype = c_size_t
        gg.ggml_backend_buffer_is_host.argtypes = [c_void_p]
        gg.ggml_backend_buffer_is_host.restype = c_bool


@lru_cache(maxsize=1)
def libs() -> _Libs:
    """The bound libraries (loaded on first use, so importing this module stays cheap)."""
    return _Libs()


# ---- thin typed wrappers -------------------------------------------------------------------


def opt_init(ctx: int, model: int, params: llama_opt_params) -> None:
    """llama_opt_init with the full 48-byte params struct."""
    libs().llama.llama_opt_init(ctx, model, params)


def opt_epoch(ctx: int, dataset: int, result_train: int | None, result_eval: int | None,
              idata_split: int, callback_train=None, callback_eval=None) -> None:
    """llama_opt_epoch: trains on datapoints [0, idata_split), evaluates on the rest.

    Args:
        callback_train / callback_eval: `ggml_opt_epoch_callback` instances or None; the
            caller must keep them referenced until this returns.
    """
    null_cb = ggml_opt_epoch_callback()  # a NULL function pointer
    libs().llama.llama_opt_epoch(
        ctx, dataset, result_train, result_eval, idata_split,
        callback_train or null_cb, callback_eval or null_cb,
    )


def dataset_init(type_data: int, type_label: int, ne_datapoint: int, ne_label: int,
                 ndata: int, ndata_shard: int = 1) -> int:
    """ggml_opt_dataset_init; returns the dataset handle (free with dataset_free)."""
    handle = libs().ggml.ggml_opt_dataset_init(type_data, type_label, ne_datapoint, ne_label,
                                               ndata, ndata_shard)
    if not handle:
        raise MemoryError("ggml_opt_dataset_init failed")
    return handle


def dataset_free(dataset: int) -> None:
    libs().ggml.ggml_opt_dataset_free(dataset)




def dataset_data(dataset: int) -> int:
    """The dataset's data tensor (shape [ne_datapoint, ndata])."""
    return libs().ggml.ggml_opt_dataset_data(dataset)


def dataset_labels(dataset: int) -> int:
    """The dataset's labels tensor (shape [ne_label, ndata])."""
    return libs().ggml.ggml_opt_dataset_labels(dataset)


def result_init() -> int:
    return libs().ggml.ggml_opt_result_init()


def result_free(result: int) -> None:
    libs().ggml.ggml_opt_result_free(result)


def result_reset(result: int) -> None:
    libs().ggml.ggml_opt_result_reset(result)








def reset_gradients(opt_ctx: int) -> None:
    """Zero the gradient accumulators of the graph being computed (ggml_opt_reset, false).

    With llama.cpp's per-step graphs and an optimizer period of 1, ggml-opt never zeroes them
    itself: every step's gradient would be the sum of all gradients so far.
    """
    libs().ggml.ggml_opt_reset(opt_ctx, False)


def default_optimizer_params() -> ggml_opt_optimizer_params:
    """ggml's hard-coded defaults (AdamW lr 1e-3, betas 0.9/0.999, eps 1e-8, wd 0)."""
    return libs().ggml.ggml_opt_get_default_optimizer_params(None)


def constant_optimizer_params_fn() -> int:
    """Address of ggml_opt_get_constant_optimizer_params, which returns `*userdata`.

    Used as `get_opt_pars` with userdata pointing at a ggml_opt_optimizer_params we own: the
    optimizer re-reads it before every step, so changing its fields changes the learning rate.
    """
    return ctypes.cast(libs().ggml.ggml_opt_get_constant_optimizer_params, c_void_p).value


def tensor_name(tensor: int) -> str:
    return libs().ggml.ggml_get_name(tensor).decode("utf-8", errors="replace")


def tensor_data(tensor: int) -> int:
    """Address of the tensor's data (valid for host buffers only)."""
    return libs().ggml.ggml_get_data(tensor)


def tensor_nbytes(tensor: int) -> int:
    return int(libs().ggml.ggml_nbytes(tensor))


def tensor_struct(tensor: int) -> ggml_tensor:
    """The tensor's struct, read in place (shape, op, sources, data pointer, name)."""
    return ggml_tensor.from_address(tensor)


def tensor_is_host(tensor: int) -> bool:
    """True when the tensor's bytes live in ordinary host memory numpy may touch."""
    buffer = tensor_struct(tensor).buffer
    return bool(buffer) and bool(libs().ggml.ggml_backend_buffer_is_host(buffer))
