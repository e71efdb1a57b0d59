"""Read and write GGUF LoRA adapters in the layout llama.cpp loads beside a base GGUF.

Layout (llama.cpp's `llama_adapter_lora`): `general.type=adapter`, `adapter.type=lora`,
`adapter.lora.alpha`; for a base tensor `blk.N.attn_q.weight` with numpy shape (n_out, n_in)
the adapter holds `blk.N.attn_q.weight.lora_a` with numpy shape (r, n_in) and `.lora_b` with
numpy shape (n_out, r). llama.cpp adds `scale * alpha / r * (B @ A)` to the weight, with rows in
the GGUF's own order (attn_q / attn_k rows permuted for RoPE, see `rope.py`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class AdapterError(Exception):
    """An adapter file that cannot be used; the message lists every problem found."""


@dataclass
class LoraTensors:
    arch: str
    alpha: float
    pairs: dict[str, tuple[np.ndarray, np.ndarray]]  # base tensor name -> (A, B)
    metadata: dict[str, str] = field(default_factory=dict)  # the nocturne.* fields, prefix dropped

    @property
    def rank(self) -> int:
        first_a, _ = next(iter(self.pairs.values()))
        return int(first_a.shape[0])

    def delta(self, name: str, scale: float = 1.0) -> np.ndarray:
        """The weight change llama.cpp applies to `name`, numpy shape (n_out, n_in)."""
        a, b = self.pairs[name]
        return (scale * self.alpha / a.shape[0]) * (b.astype(np.float32) @ a.astype(np.float32))


def write_lora_gguf(
    path: Path,
    arch: str,
    alpha: float,
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write an adapter atomically (temp file, fsync, rename), so a crash leaves no half file."""
    import gguf

    if not pairs:
        raise ValueError("an adapter needs at least one tensor pair")
    path = Path(path)
    tmp = path.with_name(path.name + ".partial")
    # Validate before creating any file, so a bad call leaves nothing behind.
    for name, (a, b) in pairs.items():
        if a.ndim != 2 or b.ndim != 2 or a.shape[0] != b.shape[1]:
            raise ValueError(f"{name}: lora_a {a.shape} and lora_b {b.shape} do not chain")
    try:
        writer = gguf.GGUFWriter(str(tmp), arch)
        writer.add_string("general.type", "adapter")
        writer.add_string("adapter.type", "lora")
        writer.add_float32("adapter.lora.alpha", float(alpha))
        for key, value in (metadata or {}).items():
            writer.add_string(f"nocturne.{key}", str(value))
        for name, (a, b) in sorted(pairs.items()):
            writer.add_tensor(f"{name}.lora_a", np.ascontiguousarray(a, dtype=np.float32))
            writer.add_tensor(f"{name}.lora_b", np.ascontiguousarray(b, dtype=np.float32))
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # only still there when something above failed
    return path


def read_lora_gguf(path: Path) -> LoraTensors:
    """Load an adapter's tensors; raises AdapterError when the file is not a LoRA GGUF."""
    import gguf

    try:
        reader = gguf.GGUFReader(str(path))
    except Exception as exc:  # the gguf reader raises bare ValueError/struct errors
        raise AdapterError(f"{path} is not a readable GGUF file ({exc})") from exc
    fields = {name: _field_value(field) for name, field in reader.fields.items()}
    problems = []
    if fields.get("general.type") != "adapter" or fields.get("adapter.type") != "lora":
        problems.append("it is not marked as a LoRA adapter (general.type/adapter.type)")
    alpha = fields.get("adapter.lora.alpha")
    if alpha is None:
        problems.append("adapter.lora.alpha is missing")
    halves: dict[str, dict[str, np.ndarray]] = {}
    for tensor in reader.tensors:
        base, _, half = tensor.name.rpartition(".")
        if half not in ("lora_a", "lora_b"):
            problems.append(f"unexpected tensor {tensor.name}")
            continue
        # GGUF stores ne reversed relative to numpy; `data` is already numpy-shaped.
        halves.setdefault(base, {})[half] = np.array(tensor.data, dtype=np.float32)
    pairs = {}
    for base, parts in halves.items():
        if set(parts) != {"lora_a", "lora_b"}:
            problems.append(f"{base} lacks its {'lora_b' if 'lora_a' in parts else 'lora_a'}")
            continue
        pairs[base] = (parts["lora_a"], parts["lora_b"])
    if not pairs and not problems:
        problems.append("it holds no LoRA tensors")
    if problems:
        raise AdapterError(f"{path} is not a usable adapter: " + "; ".join(problems))
    metadata = {key.removeprefix("nocturne."): str(value) for key, value in fields.items()
                if key.startswith("nocturne.")}
    return LoraTensors(arch=str(fields.get("general.architecture", "")), alpha=float(alpha), pairs=pairs,
                       metadata=metadata)


def write_at_strength(path: Path, strength: float, out: Path) -> Path:
    """A copy of the adapter whose weight change is `strength` times the original's: only alpha
    changes (llama.cpp scales B @ A by alpha / r), so every loader reads it unchanged."""
    lora = read_lora_gguf(path)
    metadata = {**lora.metadata, "strength": f"{strength:g}"}
    return write_lora_gguf(out, lora.arch, lora.alpha * strength, lora.pairs, metadata)


def combine_adapters(paths: list[Path], out: Path, metadata: dict[str, str] | None = None) -> Path:
    """One adapter whose change is the sum of the adapters' changes, exactly: the factors are
    stacked along the rank (A on rows, B on columns), so llama.cpp loads adapter shards trained on
    disjoint memories as one file.

    llama.cpp scales each tensor by alpha / rank with the rank read from that tensor, so each
    shard's own alpha / r is folded into its B columns against the combined file's alpha.
    """
    loras = [read_lora_gguf(path) for path in paths]
    if not loras:
        raise ValueError("nothing to combine")
    arches = {lora.arch for lora in loras}
    if len(arches) != 1:
        raise AdapterError(f"the adapters are for different architectures: {', '.join(sorted(arches))}")
    alpha = float(sum(lora.rank for lora in loras))
    pairs = {}
    for name in sorted({name for lora in loras for name in lora.pairs}):
        holders = [lora for lora in loras if name in lora.pairs]
        rank = sum(lora.pairs[name][0].shape[0] for lora in holders)
        a = np.vstack([lora.pairs[name][0] for lora in holders])
        b = np.hstack([lora.pairs[name][1] * (lora.alpha / lora.pairs[name][0].shape[0]) * (rank / alpha)
                       for lora in holders])
        pairs[name] = (a, b)
    return write_lora_gguf(out, arches.pop(), alpha, pairs, metadata)


def check_against_base(adapter: LoraTensors, base_path: Path) -> None:
    """Raise AdapterError listing every tensor whose name or shape does not fit the base GGUF."""
    from ondevice.gguf_header import HeaderError, read_header

    try:
        base = read_header(base_path)  # the header of every part: fast, and splits are whole
    except HeaderError as exc:
        raise AdapterError(str(exc)) from exc
    base_arch = base.arch
    shapes = {t.name: tuple(reversed(t.shape)) for t in base.tensors}
    problems = []
    if adapter.arch and adapter.arch != base_arch:
        problems.append(f"architecture {adapter.arch} != base {base_arch}")
    for name, (a, b) in adapter.pairs.items():
        if name not in shapes:
            problems.append(f"{name} is not a tensor of the base model")
            continue
        n_out, n_in = shapes[name][0], shapes[name][-1]
        if a.shape[1] != n_in or b.shape[0] != n_out or a.shape[0] != b.shape[1]:
            problems.append(f"{name}: A{a.shape} B{b.shape} do not fit base ({n_out}, {n_in})")
    if problems:
        raise AdapterError("the adapter does not fit this base model: " + "; ".join(problems))


def _field_value(field):
    """Decode a GGUFReader field into a Python scalar or string."""
    import gguf

    if not field.types:
        return None
    kind = field.types[0]
    if kind == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", errors="replace")
    if kind == gguf.GGUFValueType.ARRAY:
        return None
    return field.parts[field.data[0]][0].item()
