"""What a GGUF file is, read from its header only: architecture, size, quantization, template.

Read with `gguf_header.read_header`, which walks the header without decoding the tokenizer's
100k-entry arrays (`gguf.GGUFReader` takes about 1 s per model idle, 16 s on a loaded machine:
too slow for a list of models). The gguf package still names the types.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .gguf_header import HeaderError, read_header


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


def _quantization(file_type, kinds: Counter) -> str:
    import gguf

    if file_type is not None:
        try:
            name = gguf.LlamaFileType(int(file_type)).name  # MOSTLY_Q4_K_M, ALL_F32
            return name.removeprefix("MOSTLY_").removeprefix("ALL_")
        except ValueError:
            pass
    # No (known) file type: name it after the type most weight matrices use.
    if not kinds:
        return "unknown"
    kind = kinds.most_common(1)[0][0]
    try:
        return gguf.GGMLQuantizationType(kind).name
    except ValueError:
        return "unknown"


def read_gguf_info(path: str | Path) -> GgufInfo:
    """Describe a GGUF file from its header (metadata and tensor table, never the weights).

    Args:
        path: the .gguf file (or an Ollama blob, which has no extension; any part of a split model).
    Returns:
        its GgufInfo.
    Raises:
        GgufReadError: the file is missing, unreadable, or not a GGUF.
    """
    path = Path(path)
    try:
        header = read_header(path)
    except HeaderError as exc:
        raise GgufReadError(str(exc)) from exc  # one sentence naming the file
    metadata = header.metadata
    kinds = Counter(t.ggml_type for t in header.tensors if len(t.shape) >= 2)
    return GgufInfo(
        path=path,
        name=str(metadata.get("general.name") or path.name.removesuffix(".gguf")),
        architecture=str(metadata.get("general.architecture") or "unknown"),
        parameters=sum(math.prod(t.shape) for t in header.tensors),
        quantization=_quantization(metadata.get("general.file_type"), kinds),
        size=sum(part.stat().st_size for part in header.parts),
        chat_template=bool(metadata.get("tokenizer.chat_template")),
    )


def chat_reason(info: GgufInfo) -> str | None:
    """Why this model cannot chat in Nocturne, or None when it can."""
    if not info.chat_template:
        return "no chat template: it is a base model that only continues text"
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
