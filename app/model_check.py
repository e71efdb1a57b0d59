"""Is this file a usable chat model? Answered from its GGUF header, in milliseconds.

llama.cpp would find out too, but only after a slow load, and its errors are not sentences.
"""

from __future__ import annotations

from pathlib import Path

from app.errors import ModelError


def model_file_problem(path: Path) -> str | None:
    """Why `path` cannot be the chat model, as a clause ("it is a LoRA adapter, ..."), or None."""
    if not path.exists():
        return "the file does not exist"
    if not path.is_file():
        return "it is a folder, not a model file"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(4)
    except OSError as exc:
        return f"the file cannot be read ({exc.strerror})"
    if magic != b"GGUF":
        return "it is not a GGUF model file"
    from gguf import GGUFReader  # numpy-heavy: only when a model file is checked

    try:
        reader = GGUFReader(path, "r")
    except Exception:  # the gguf package raises many kinds (IndexError, ValueError...) on damage
        return "it is incomplete or damaged"
    kind = _text_field(reader, "general.type")
    if kind == "adapter":
        return "it is a LoRA adapter, not a model (adapters are trained by Nocturne itself)"
    if not reader.tensors or not _text_field(reader, "general.architecture"):
        return "it holds no model (no architecture or no weights)"
    end = max(t.data_offset + int(t.n_bytes) for t in reader.tensors)
    if end > path.stat().st_size:
        return "it is incomplete (cut off before the end of its weights)"
    return None


def check_model_file(path: str | Path) -> Path:
    """`path`, expanded, or ModelError saying in one sentence why it is not a usable model."""
    path = Path(path).expanduser()
    problem = model_file_problem(path)
    if problem:
        raise ModelError(f"{path} cannot be used as the model: {problem}; choose a GGUF model file.")
    return path


def _text_field(reader, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    try:
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    except (IndexError, TypeError):
        return None
