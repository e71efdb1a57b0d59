"""Read a whole GGUF (metadata, vocabulary and tensors) for conversion, quickly.

`gguf.GGUFReader` builds a numpy view per metadata array element: a 150k-token vocabulary
takes about a minute on a busy 2-core machine. This reads the same file through one memory
map: string arrays as Python strings, numeric arrays with one `np.frombuffer`, and each
tensor's raw bytes, dequantized on demand by `gguf.quants.dequantize`. A split model
(`-00001-of-0000n.gguf`) is read across its parts, as llama.cpp loads it.
"""

from __future__ import annotations

import mmap
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..gguf_header import split_parts

_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
            10: "<Q", 11: "<q", 12: "<d"}
_NUMPY = {0: "<u1", 1: "<i1", 2: "<u2", 3: "<i2", 4: "<u4", 5: "<i4", 6: "<f4", 7: "?",
          10: "<u8", 11: "<i8", 12: "<f8"}
_STRING, _ARRAY = 8, 9


@dataclass(frozen=True)
class GgufTensor:
    name: str
    shape: tuple[int, ...]  # numpy order (outermost first), the reverse of GGUF's ne
    ggml_type: int
    data: memoryview  # the raw (possibly quantized) bytes

    def to_float32(self) -> np.ndarray:
        """The tensor dequantized to float32, in numpy shape."""
        from gguf.quants import dequantize

        raw = np.frombuffer(self.data, dtype=np.uint8)
        return np.asarray(dequantize(raw, self.ggml_type), dtype=np.float32).reshape(self.shape)


class GgufFile:
    """Metadata (`.metadata`, full values) and tensors (`.tensors`) of a GGUF model."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.metadata: dict = {}
        self.tensors: list[GgufTensor] = []
        self._maps = []
        for index, part in enumerate(split_parts(self.path)):
            try:
                metadata = self._read(part)
            except ValueError as error:
                raise ValueError(f"{part.name}: {error}") from None
            if index == 0:
                self.metadata = metadata

    def _read(self, path: Path) -> dict:
        import gguf

        with open(path, "rb") as handle:
            buf = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self._maps.append(buf)
        cursor = _Cursor(buf)
        if cursor.take(4) != b"GGUF" or cursor.unpack("<I") not in (2, 3):
            raise ValueError("not a GGUF file of version 2 or 3")
        n_tensors, n_kv = cursor.unpack("<Q"), cursor.unpack("<Q")
        metadata = {}
        for _ in range(n_kv):
            key = cursor.string()
            metadata[key] = cursor.value(cursor.unpack("<I"))
        infos = []
        for _ in range(n_tensors):
            name = cursor.string()
            ne = tuple(cursor.unpack("<Q") for _ in range(cursor.unpack("<I")))
            infos.append((name, ne, cursor.unpack("<I"), cursor.unpack("<Q")))
        alignment = int(metadata.get("general.alignment", 32))
        start = -(-cursor.pos // alignment) * alignment
        view = memoryview(buf)
        for name, ne, ggml_type, offset in infos:
            block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(ggml_type)]
            nbytes = int(np.prod(ne, dtype=np.int64)) // block * type_size
            begin = start + offset
            if begin + nbytes > len(buf):
                raise ValueError(f"tensor {name} runs past the end of the file")
            self.tensors.append(
                GgufTensor(name, tuple(reversed(ne)), ggml_type, view[begin : begin + nbytes])
            )
        return metadata


class _Cursor:
    """Sequential little-endian reads over a mapped file."""

    def __init__(self, buf):
        self.buf, self.pos = buf, 0

    def take(self, size: int) -> bytes:
        data = self.buf[self.pos : self.pos + size]
        if len(data) != size:
            raise ValueError("the GGUF header runs past the end of the file")
        self.pos += size
        return data

    def unpack(self, fmt: str):
        try:
            (value,) = struct.unpack_from(fmt, self.buf, self.pos)
        except struct.error:
            raise ValueError("the GGUF header runs past the end of the file") from None
        self.pos += struct.calcsize(fmt)
        return value

    def string(self) -> str:
        return self.take(self.unpack("<Q")).decode("utf-8")

    def value(self, vtype: int):
        if vtype in _SCALARS:
            return self.unpack(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype != _ARRAY:
            raise ValueError(f"unknown GGUF metadata type {vtype}")
        item_type, count = self.unpack("<I"), self.unpack("<Q")
        if item_type in _NUMPY:  # one read for the whole array
            dtype = np.dtype(_NUMPY[item_type])
            if self.pos + count * dtype.itemsize > len(self.buf):
                raise ValueError("the GGUF header runs past the end of the file")
            values = np.frombuffer(self.buf, dtype=dtype, count=count, offset=self.pos)
            self.pos += count * dtype.itemsize
            return values.tolist()
        return [self.value(item_type) for _ in range(count)]
