"""Whether tonight continues the adapter in use or starts from zero, and why (one sentence).

A night's time covers a fraction of the steps a year of memories needs (100 memories: about
one step in seven), so a night that starts from zero only ever knows one night's worth. A night
that starts from the factors of the adapter in use adds its steps to all the nights before.

Deletion stays exact because a night continues only an adapter whose whole line learned nothing
tonight does not train: every memory the adapter in use was trained on is trained again tonight
(so the new adapter records it, and deleting or editing it taints the new adapter as well), and
every rated answer it learned still exists. Anything else (a memory superseded or left out, a
deleted conversation's rated answer, another model or LoRA shape, an unreadable file) starts
from zero, and the report says which.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from ondevice.adapters import AdapterRegistry
from ondevice.gguf_header import HeaderError, read_header
from ondevice.training.types import TrainArgs
from ondevice.training.warm_start import StartMismatch, lora_tensor_names, starting_factors

# The LoRA settings two adapters must share for one to continue the other.
SHAPE = ("rank", "num_layers", "targets", "alpha")


@dataclass(frozen=True)
class Start:
    """Where tonight's LoRA starts."""

    path: Path | None  # the adapter whose factors training continues; None: from zero
    version: str | None  # that adapter's version
    night: int  # nights in this adapter's line, tonight included (1: from zero)
    reason: str  # one sentence for the morning report

    def args(self, args: TrainArgs) -> TrainArgs:
        """`args` starting here; each night of a line shuffles its examples its own way, so a
        continued night does not repeat the steps the night before already took."""
        return replace(args, start_from=str(self.path) if self.path else None, seed=args.seed + self.night - 1)

    def metrics(self, feedback_ids: set[int]) -> dict:
        """What the promoted adapter records so a later night can continue it (no user text)."""
        return {"night": self.night, "from": self.version, "feedback_ids": sorted(feedback_ids)}


def fresh(reason: str) -> Start:
    return Start(path=None, version=None, night=1, reason=f"Training started from zero: {reason}.")


def choose_start(registry: AdapterRegistry, model, args: TrainArgs, trained: set[int],
                 feedback_ids: set[int]) -> Start:
    """Continue the adapter the app would load for `model`, when that keeps deletion exact.

    Args:
        registry: the data folder's adapters.
        model: the base model (path, sha256) tonight trains.
        args: tonight's planned LoRA (rank, layers, targets, alpha).
        trained: ids of the memories tonight trains.
        feedback_ids: ids of the rated answers tonight trains.
    """
    current = registry.loadable(model.sha256)
    if current is None:
        return fresh("no adapter of this model is in use")
    planned = args.to_dict()
    if any(current.args.get(key) != planned[key] for key in SHAPE):
        return fresh(f"the adapter in use ({current.version}) has other LoRA settings")
    left_out = set(registry.memory_ids(current.version)) - trained
    if left_out:
        return fresh(f"the adapter in use learned {len(left_out)} "
                     f"{'memory' if len(left_out) == 1 else 'memories'} tonight does not train "
                     "(superseded, or no longer trainable), and continuing would keep them")
    line = current.metrics.get("line") or {}
    if set(line.get("feedback_ids") or ()) - feedback_ids:
        return fresh("a rated answer the adapter in use learned was deleted")
    try:
        starting_factors(current.path, args, _planned_tensors(model.path, args))
    except (StartMismatch, HeaderError, OSError) as exc:
        return fresh(f"the adapter in use ({current.version}) cannot be continued ({exc})")
    night = int(line.get("night") or 1) + 1
    return Start(path=current.path, version=current.version, night=night,
                 reason=f"Training continued from adapter {current.version}: night {night} of "
                        "its line, so tonight's steps add to the nights before.")


def _planned_tensors(model_path: Path, args: TrainArgs) -> list[str]:
    """The GGUF tensors a LoRA of `args` changes on this model (the last num_layers layers)."""
    return lora_tensor_names(int(read_header(Path(model_path)).arch_value("block_count")), args)
