"""A float32 copy of a quantized base GGUF, which llama.cpp's optimizer can train in place.

ggml-opt only updates F32 tensors, and the app ships a Q4 model, so the trainer works on a
dequantized twin. The copy is cached per base-model hash because dequantizing takes a while and
the same base is trained every night.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

# Metadata the writer sets itself (arch, GGUF.* virtual fields) or that must change for F32.
_FILE_TYPE_KEY = "general.file_type"
_ALIGNMENT_KEY = "general.alignment"
_LLAMA_FTYPE_ALL_F32 = 0


def f32_copy_path(cache_dir: Path, base_sha256: str) -> Path:
    """Where the float32 copy of a base model lives.

    Args:
        cache_dir: the trainer's cache directory.
        base_sha256: sha256 of the quantized base GGUF.

    Returns:
        `cache_dir/f32/<base_sha256>.gguf`.
    """
    return Path(cache_dir) / "f32" / f"{base_sha256}.gguf"


def ensure_f32_copy(base_path: Path, base_sha256: str, cache_dir: Path) -> Path:
    """Return the cached F32 copy of `base_path`, writing it first if it is missing.

    Args:
        base_path: the quantized GGUF the app runs.
        base_sha256: its sha256 (the cache key; the caller already knows it).
        cache_dir: directory under which `f32/` is created.

    Returns:
        Path of a complete F32 GGUF with every metadata key of the base.
    """
    target = f32_copy_path(cache_dir, base_sha256)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # Unique temp name: two runs racing on one cache must not write into the same file.
    tmp = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        write_f32_gguf(base_path, tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        _fsync_dir(target.parent)
    finally:
        if tmp.exists():
            tmp.unlink()
    return target


def write_f32_gguf(src: Path, dst: Path) -> None:
    """Dequantize every tensor of `src` to float32 and write it to `dst` with the same metadata.

    Tensors are dequantized and written one at a time, so peak memory stays near the size of
    the largest tensor rather than the whole model. A split model (`src` its first part) becomes
    one file: the tensors of every part, the metadata of the first without the split keys.

    Args:
        src: any GGUF whose tensor types the `gguf` package can dequantize.
        dst: output path (overwritten; the caller makes it atomic).

    Raises:
        UnsupportedModel: a tensor type the gguf package cannot dequantize.
    """
    import gguf

    from ondevice.gguf_header import split_parts

    readers = [gguf.GGUFReader(str(part)) for part in split_parts(src)]
    reader = readers[0]
    tensors = [tensor for part in readers for tensor in part.tensors]
    _check_types(tensors, Path(src).name)
    arch = reader.fields["general.architecture"].contents()
    writer = gguf.GGUFWriter(str(dst), arch=arch, endianess=reader.endianess)
    alignment = reader.fields.get(_ALIGNMENT_KEY)
    if alignment is not None:
        writer.data_alignment = int(alignment.contents())

    for field in reader.fields.values():
        # The writer adds the architecture itself; GGUF.* are the reader's virtual header fields;
        # split.* would make llama.cpp look for parts the single copy does not have.
        if field.name == "general.architecture" or field.name.startswith(("GGUF.", "split.")):
            continue
        vtype = field.types[0]
        sub_type = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        value = field.contents()
        if field.name == _FILE_TYPE_KEY:
            value = _LLAMA_FTYPE_ALL_F32  # keep the header honest about the tensor types
        writer.add_key_value(field.name, value, vtype, sub_type=sub_type)

    for tensor in tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))  # GGUF ne order -> numpy order
        nbytes = int(np.prod(shape)) * 4
        writer.add_tensor_info(tensor.name, shape, np.dtype(np.float32), nbytes)

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for tensor in tensors:
        shape = tuple(int(n) for n in reversed(tensor.shape))
        data = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        writer.write_tensor_data(np.ascontiguousarray(data, dtype=np.float32).reshape(shape))
    writer.close()


def _check_types(tensors, name: str) -> None:
    """Raise UnsupportedModel naming every tensor type gguf cannot dequantize, before any writing."""
    import gguf

    from .types import UnsupportedModel

    plain = {gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16}
    missing = sorted({t.tensor_type.name for t in tensors
                      if t.tensor_type not in plain and not _dequantizable(t.tensor_type)})
    if missing:
        raise UnsupportedModel(f"{name} uses tensor types the trainer cannot convert to float32 "
                               f"({', '.join(missing)}): choose another quantization of the model.")


def _dequantizable(qtype) -> bool:
    """Whether gguf.quants implements dequantization of `qtype` (its class overrides the blocks)."""
    import gguf

    traits = getattr(gguf.quants, "_type_traits", {})
    cls = traits.get(qtype)
    return cls is not None and cls.dequantize_blocks is not gguf.quants.__Quant.dequantize_blocks


def _fsync_dir(directory: Path) -> None:
    """Persist a rename: the directory entry itself must reach the disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
