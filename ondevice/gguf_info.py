"""What a GGUF file is, read from its header only: architecture, size, quantization, template.

The file is memory-mapped and only the header is walked: four metadata values are decoded and
everything else is skipped by its length, so the tokenizer's 100k-entry arrays cost almost
nothing. (`gguf.GGUFReader` decodes every array element into its own numpy view: about 1 s
per model idle, 16 s on a loaded machine, too slow for a list of models.) The gguf package
still names the types.
"""

from __future__ import annotations

import math
import mmap
import struct
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


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


# Bytes per scalar of each GGUF value type (gguf.GGUFValueType); strings and arrays vary.
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
# Metadata read into GgufInfo; every other value (the tokenizer's 100k-entry arrays) is skipped.
_WANTED = {"general.name", "general.architecture", "general.file_type", "tokenizer.chat_template"}


class _Header:
    """A cursor over the memory-mapped header; every read is bounds-checked by struct."""

    def __init__(self, data):
        self.data = data
        self.at = 0

    def unpack(self, fmt: str):
        value = struct.unpack_from(fmt, self.data, self.at)[0]
        self.at += struct.calcsize(fmt)
        return value

    def string(self) -> bytes:
        length = self.unpack("<Q")
        if self.at + length > len(self.data):
            raise ValueError("a string runs past the end of the file")
        text = bytes(self.data[self.at:self.at + length])
        self.at += length
        return text

    def skip_strings(self, count: int) -> None:
        data, at, end = self.data, self.at, len(self.data)
        for _ in range(count):  # each string is a u64 length then its bytes
            at += 8 + int.from_bytes(data[at:at + 8], "little")
            if at > end:  # a damaged count must not loop for ever
                raise ValueError("an array runs past the end of the file")
        self.at = at

    def value(self, kind: int, keep: bool):
        if kind in _SCALARS:
            return self.unpack(_SCALARS[kind])
        if kind == _STRING:
            return self.string().decode("utf-8", "replace")
        if kind != _ARRAY:
            raise ValueError(f"unknown metadata type {kind}")
        item, count = self.unpack("<I"), self.unpack("<Q")
        if item in _SCALARS:
            self.at += count * struct.calcsize(_SCALARS[item])
        elif item == _STRING:
            self.skip_strings(count)
        else:  # arrays of arrays: rare, walk them
            for _ in range(count):
                self.value(item, False)
        return None


def _parse(data) -> tuple[dict, int, Counter]:
    """(wanted metadata, parameter count, tensor types by count) from a GGUF's header."""
    head = _Header(data)
    if bytes(data[:4]) != b"GGUF":
        raise ValueError("it does not start with the GGUF magic")
    head.at = 4
    version = head.unpack("<I")
    if version < 2:
        raise ValueError(f"GGUF version {version} is too old")
    tensors, keys = head.unpack("<Q"), head.unpack("<Q")
    metadata = {}
    for _ in range(keys):
        key = head.string().decode("utf-8", "replace")
        value = head.value(head.unpack("<I"), key in _WANTED)
        if key in _WANTED:
            metadata[key] = value
    parameters, kinds = 0, Counter()
    for _ in range(tensors):
        head.string()  # the tensor's name
        dims = [head.unpack("<Q") for _ in range(head.unpack("<I"))]
        kind = head.unpack("<I")
        head.unpack("<Q")  # its data offset
        parameters += math.prod(dims)
        if len(dims) >= 2:
            kinds[kind] += 1
    return metadata, parameters, kinds


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
        path: the .gguf file (or an Ollama blob, which has no extension).
    Returns:
        its GgufInfo.
    Raises:
        GgufReadError: the file is missing, unreadable, or not a GGUF.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0,
                                                   access=mmap.ACCESS_READ) as data:
            metadata, parameters, kinds = _parse(data)
    except OSError as exc:
        raise GgufReadError(f"Cannot read {path} ({exc.strerror or exc}).") from exc
    except (ValueError, struct.error) as exc:
        raise GgufReadError(f"{path.name} is not a readable GGUF model ({exc}).") from exc
    return GgufInfo(
        path=path,
        name=str(metadata.get("general.name") or path.name.removesuffix(".gguf")),
        architecture=str(metadata.get("general.architecture") or "unknown"),
        parameters=parameters,
        quantization=_quantization(metadata.get("general.file_type"), kinds),
        size=path.stat().st_size,
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
