"""What a GGUF file is, read from its header only: architecture, size, quantization, template.

`gguf.GGUFReader` memory-maps the file and parses the metadata and tensor table; no tensor data
is read, so a 5 GB model is described in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

# Architectures today's trainers can train (both convert llama-layout tensors only).
LEARNABLE_ARCHITECTURES = ("llama",)


class GgufReadError(Exception):
    """The file is not a readable GGUF; the message says why in one sentence."""


@dataclass(frozen=True)
class GgufInfo:
    """A GGUF model as its header describes it."""

    path: Path
    name: str  # general.name, else the file name
    architecture: str
    parameters: int  # counted from the tensor table
    quantization: str  # e.g. "Q4_K_M", "Q4_1", "F16"
    size: int  # bytes on disk
    chat_template: bool  # tokenizer.chat_template present: it can chat here


def _value(reader, key: str):
    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    return field.contents()


def _quantization(reader) -> str:
    import gguf

    file_type = _value(reader, "general.file_type")
    if file_type is not None:
        try:
            name = gguf.LlamaFileType(int(file_type)).name  # MOSTLY_Q4_K_M, ALL_F32
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    # No (known) file type: name it after the type most weight matrices use.
    kinds = Counter(t.tensor_type.name for t in reader.tensors if len(t.shape) >= 2)
    return kinds.most_common(1)[0][0] if kinds else "unknown"


def read_gguf_info(path: str | Path) -> GgufInfo:
    """Describe a GGUF file from its header.

    Args:
        path: the .gguf file (or an Ollama blob, which has no extension).
    Returns:
        its GgufInfo.
    Raises:
        GgufReadError: the file is missing, unreadable, or not a GGUF.
    """
    import gguf

    path = Path(path)
    try:
        reader = gguf.GGUFReader(path, "r")
    except OSError as exc:
        raise GgufReadError(f"Cannot read {path} ({exc.strerror or exc}).") from exc
    except Exception as exc:  # the reader raises ValueError/struct errors on a damaged header
        raise GgufReadError(f"{path.name} is not a readable GGUF model ({exc}).") from exc
    name = _value(reader, "general.name") or path.name.removesuffix(".gguf")
    parameters = sum(int(t.n_elements) for t in reader.tensors)
    return GgufInfo(
        path=path,
        name=str(name),
        architecture=str(_value(reader, "general.architecture") or "unknown"),
        parameters=parameters,
        quantization=_quantization(reader),
        size=path.stat().st_size,
        chat_template=bool(_value(reader, "tokenizer.chat_template")),
    )


def chat_reason(info: GgufInfo) -> str | None:
    """Why this model cannot chat in Nocturne, or None when it can."""
    if not info.chat_template:
        return "no chat template: it is a base model that only continues text"
    return None


def learn_reason(info: GgufInfo) -> str | None:
    """Why nightly learning cannot train this model, or None when it can.

    The one place this rule lives; it reflects today's trainers (llama architecture only).
    """
    if info.architecture not in LEARNABLE_ARCHITECTURES:
        return (f"the trainers support the llama architecture only; this model is "
                f"{info.architecture}")
    if not info.chat_template:
        return "no chat template to train answers in"
    return None


def human_parameters(count: int) -> str:
    """135000000 -> "135M", 7241732096 -> "7.2B"."""
    for unit, scale in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if count >= scale:
            value = count / scale
            return f"{value:.1f}{unit}" if value < 10 else f"{value:.0f}{unit}"
    return str(count)


def human_size(size: int) -> str:
    """Bytes as MB or GB, as file managers show them."""
    if size >= 1e9:
        return f"{size / 1e9:.1f} GB"
    return f"{size / 1e6:.0f} MB"
