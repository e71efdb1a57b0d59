"""Read a GGUF file's header (metadata and tensor list) without touching its tensor data.

`gguf.GGUFReader` decodes every metadata array element into numpy parts (a 150k-token
vocabulary takes seconds) and maps every tensor; questions asked before any work ("can this
model learn?", "which file holds the template?") only need the header, so this reads it
directly: scalars and strings decoded, long arrays skipped with their length kept.

Split models (`name-00001-of-00003.gguf`) are read across all their parts: metadata from the
first, tensors from every part, as llama.cpp loads them given the first file.
"""

from __future__ import annotations

import mmap
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

MAGIC = b"GGUF"
SPLIT_NAME = re.compile(r"^(?P<stem>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$")
# Arrays longer than this are skipped (their length is kept): vocabularies, merges, scores.
MAX_KEPT_ARRAY = 256

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9
_U64 = struct.Struct("<Q")


class HeaderError(Exception):
    """The file is not a readable GGUF (or a split part is missing); the message says which."""


@dataclass(frozen=True)
class SkippedArray:
    """A metadata array too long to keep: its length, and the items asked for by index."""

    length: int
    picked: dict = field(default_factory=dict)  # index -> value, for read_header(pick=...)


@dataclass(frozen=True)
class TensorInfo:
    name: str
    shape: tuple[int, ...]  # GGUF order (ne[0] first, the contiguous axis)
    ggml_type: int


@dataclass(frozen=True)
class GGUFHeader:
    """Metadata of a (possibly split) GGUF and the tensors of all its parts."""

    path: Path  # the first part
    parts: tuple[Path, ...]
    metadata: dict
    tensors: tuple[TensorInfo, ...]

    @property
    def arch(self) -> str:
        return str(self.metadata.get("general.architecture") or "")

    def arch_value(self, key: str, default=None):
        """`{arch}.{key}`, e.g. arch_value("block_count")."""
        return self.metadata.get(f"{self.arch}.{key}", default)

    def tensor_names(self) -> set[str]:
        return {t.name for t in self.tensors}


def split_parts(path: Path) -> tuple[Path, ...]:
    """Every part of a split GGUF named like `x-00001-of-00003.gguf` (any part may be given),
    or `(path,)` for a single file.

    Raises:
        HeaderError: a part of the split is missing.
    """
    path = Path(path)
    match = SPLIT_NAME.match(path.name)
    if not match:
        return (path,)
    count = int(match["count"])
    parts = tuple(path.with_name(f"{match['stem']}-{i:05d}-of-{count:05d}.gguf") for i in range(1, count + 1))
    missing = [p.name for p in parts if not p.is_file()]
    if missing:
        raise HeaderError(f"{path.name} is part of a split model but {', '.join(missing)} "
                          f"{'is' if len(missing) == 1 else 'are'} missing next to it.")
    return parts


def later_split_part(path: Path) -> bool:
    """True for `x-00002-of-00003.gguf` and after: llama.cpp loads a split model from its first part."""
    match = SPLIT_NAME.match(Path(path).name)
    return bool(match) and int(match["no"]) > 1


def read_header(path: Path, pick: dict[str, set[int]] | None = None) -> GGUFHeader:
    """The header of `path` and, for a split model, of all its parts.

    Args:
        path: the GGUF (any part of a split model).
        pick: items to keep from long arrays, e.g. {"tokenizer.ggml.tokens": {bos_id, eos_id}}.

    Raises:
        HeaderError: not a GGUF file, truncated, or a part is missing.
    """
    parts = split_parts(Path(path))
    metadata, tensors = _read_one(parts[0], pick or {})
    for part in parts[1:]:
        tensors += _read_one(part, {})[1]
    return GGUFHeader(path=parts[0], parts=parts, metadata=metadata, tensors=tuple(tensors))


def _read_one(path: Path, pick: dict[str, set[int]]) -> tuple[dict, list[TensorInfo]]:
    try:
        with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as buf:
            return _Cursor(buf, path, pick).header()
    except (OSError, ValueError) as exc:  # ValueError: mmap of an empty file
        raise HeaderError(f"Cannot read {path.name} as a GGUF model file ({exc}).") from exc


class _Cursor:
    """Sequential little-endian reads over the mapped file."""

    def __init__(self, buf, path: Path, pick: dict[str, set[int]]):
        self.buf, self.path, self.pos, self.pick = buf, path, 0, pick

    def take(self, size: int) -> bytes:
        end = self.pos + size
        if end > len(self.buf):
            raise HeaderError(f"{self.path.name} is truncated: its header runs past the end of the file.")
        data = self.buf[self.pos:end]
        self.pos = end
        return data

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8", errors="replace")

    def value(self, vtype: int, wanted: set[int] = frozenset()):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            item_type, count = self.unpack("<I"), self.unpack("<Q")
            if count <= MAX_KEPT_ARRAY:
                return [self.value(item_type) for _ in range(count)]
            picked = {}
            if item_type in _SCALARS:
                size = struct.calcsize(_SCALARS[item_type])
                start = self.pos
                for index in wanted:
                    if 0 <= index < count:
                        self.pos = start + index * size
                        picked[index] = self.value(item_type)
                self.pos = start + count * size
            elif item_type == _STRING:
                self._skip_strings(count, wanted, picked)
            else:
                for index in range(count):
                    if index in wanted:
                        picked[index] = self.value(item_type)
                    else:
                        self.value(item_type)
            return SkippedArray(count, picked)
        raise HeaderError(f"{self.path.name} has an unknown metadata type {vtype}: is it a GGUF file?")

    def _skip_strings(self, count: int, wanted: set[int], picked: dict) -> None:
        """Walk `count` length-prefixed strings, keeping the `wanted` ones (a tight loop: a
        vocabulary has 150-260k of them and this is most of a header's reading time)."""
        buf, pos, length_at = self.buf, self.pos, _U64.unpack_from
        try:
            for index in range(count):
                length = length_at(buf, pos)[0]
                if index in wanted:
                    picked[index] = bytes(buf[pos + 8:pos + 8 + length]).decode("utf-8", errors="replace")
                pos += 8 + length
        except struct.error:  # a length read past the end of the mapped file
            pos = len(buf) + 1
        if pos > len(buf):
            raise HeaderError(f"{self.path.name} is truncated: its header runs past the end of the file.")
        self.pos = pos

    def header(self) -> tuple[dict, list[TensorInfo]]:
        if self.take(4) != MAGIC:
            raise HeaderError(f"{self.path.name} is not a GGUF model file.")
        version = self.unpack("<I")
        if version not in (2, 3):
            raise HeaderError(f"{self.path.name} is GGUF version {version}; only versions 2 and 3 "
                              "(little-endian) are supported.")
        n_tensors, n_kv = self.unpack("<Q"), self.unpack("<Q")
        metadata = {}
        for _ in range(n_kv):
            key = self.string()
            metadata[key] = self.value(self.unpack("<I"), self.pick.get(key, frozenset()))
        tensors = []
        for _ in range(n_tensors):
            name = self.string()
            dims = tuple(self.unpack("<Q") for _ in range(self.unpack("<I")))
            ggml_type = self.unpack("<I")
            self.pos += 8  # data offset
            tensors.append(TensorInfo(name, dims, ggml_type))
        return metadata, tensors
