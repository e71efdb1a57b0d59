"""Environment for a child process that trains with MLX on Linux, so it uses a fast BLAS.

The `mlx[cpu]` Linux wheel links a reference BLAS that is about 20x slower for training than
Debian's OpenBLAS. The dynamic loader only honours LD_PRELOAD when a process starts, so the
parent (the learning job launcher, the test runner) has to put it in the child's environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Debian/Ubuntu `libopenblas0-pthread` (and its openmp twin) install the BLAS ABI here.
OPENBLAS_CANDIDATES = (
    Path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"),
    Path("/usr/lib/aarch64-linux-gnu/openblas-pthread/libblas.so.3"),
    Path("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3"),
    Path("/usr/lib/aarch64-linux-gnu/openblas-openmp/libblas.so.3"),
)


def find_openblas() -> Path | None:
    """Return the first installed OpenBLAS `libblas.so.3`, or None (also on non-Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    return next((path for path in OPENBLAS_CANDIDATES if path.is_file()), None)


def blas_env(threads: int | None = None, environ: dict[str, str] | None = None) -> dict[str, str]:
    """Environment additions that make a child process's MLX use OpenBLAS.

    Args:
        threads: OpenBLAS thread count for the child (None leaves OpenBLAS's default).
        environ: the environment the child would otherwise get (default: os.environ); an
            existing LD_PRELOAD is kept after the BLAS library.

    Returns:
        Variables to merge into the child's environment; empty when no OpenBLAS is installed
        or the platform is not Linux (macOS MLX uses Accelerate/Metal and needs nothing).
    """
    library = find_openblas()
    if library is None:
        return {}
    current = (os.environ if environ is None else environ).get("LD_PRELOAD", "")
    parts = [str(library)] + [p for p in current.split(":") if p and p != str(library)]
    env = {"LD_PRELOAD": ":".join(parts)}
    if threads:
        env["OPENBLAS_NUM_THREADS"] = str(threads)
    return env


def openblas_active() -> bool:
    """True when this process has the system OpenBLAS mapped (it was started with `blas_env`)."""
    try:
        maps = Path("/proc/self/maps").read_text()
    except OSError:
        return False
    # Match the system library's directory, not any "openblas": numpy wheels bundle their own.
    return any(str(path.parent) + "/" in maps for path in OPENBLAS_CANDIDATES)


def set_openblas_threads(threads: int) -> bool:
    """Set OpenBLAS's thread count in this process, if OpenBLAS is loaded here.

    Args:
        threads: threads for BLAS calls (>= 1).

    Returns:
        True when OpenBLAS was found in the process and told; False otherwise.
    """
    import ctypes

    library = find_openblas()
    if library is None or not openblas_active():
        return False
    try:
        # The preloaded library is already mapped, so this dlopen just returns its handle.
        ctypes.CDLL(str(library)).openblas_set_num_threads(int(threads))
    except (OSError, AttributeError):
        return False
    return True
