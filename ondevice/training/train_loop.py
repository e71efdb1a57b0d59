"""The llama.cpp trainer's step loop: one window a step, the LoRA factors' update, progress,
cancel and deadline, and the run's metrics (with where a step's time goes)."""

from __future__ import annotations

import os
import resource
import time

import numpy as np

from .label_hook import LossPlan
from .lora_factors import LoraFactors
from .types import ProgressCallback, TrainingCancelled
from .windows import BaseLogprobs, Packer, Window


class TrainLoop:
    """Steps, trains the factors, reports; stops on cancel (raises) or at the deadline (returns)."""

    def __init__(self, session, lora: LoraFactors, packer: Packer, base: BaseLogprobs | None,
                 anchor_weight: float):
        self.session = session
        self.anchor_weight = anchor_weight
        self.lora = lora
        self.packer = packer
        self.base = base  # None: nothing is anchored, every position is taught

    def _plan(self, window: Window) -> LossPlan:
        taught = window.taught if self.base is not None else np.ones_like(window.taught)
        anchor = ~taught
        base_logprobs = self.base.rows(window, anchor) if anchor.any() else None
        return LossPlan(teach=taught, targets=window.tokens[1:], anchor=anchor,
                        base_logprobs=base_logprobs, anchor_weight=self.anchor_weight)

    def run(self, total: int, callback: ProgressCallback, deadline: float | None) -> dict:
        losses: list[float] = []
        drifts: list[float] = []
        step_seconds = 0.0
        stopped_early = False
        parts = {"base_logprobs": 0.0, "llama_cpp_step": 0.0, "lora_update": 0.0}
        labels_before = self.session.hook.seconds
        for step in range(1, total + 1):
            check_cancel(callback)
            if deadline is not None and time.monotonic() >= deadline:
                stopped_early = True
                break
            t0 = time.monotonic()
            window = self.packer.window()
            plan = self._plan(window)
            t1 = time.monotonic()
            measured = self.session.step(window.tokens, plan)
            t2 = time.monotonic()
            grad_norm = self.lora.step()
            parts["base_logprobs"] += t1 - t0
            parts["llama_cpp_step"] += t2 - t1
            parts["lora_update"] += time.monotonic() - t2
            if not np.isfinite(grad_norm):
                raise RuntimeError(f"training diverged at step {step} (gradient norm {grad_norm})")
            step_seconds += time.monotonic() - t0
            losses.append(measured["ce"])  # the taught answers' loss, as the MLX trainer reports
            drifts.append(measured["kl"])
            tokens = step * self.session.n_ctx
            callback.report({
                "stage": "train", "step": step, "total": total, "loss": losses[-1], "kl": drifts[-1],
                "tokens_per_s": tokens / step_seconds if step_seconds else 0.0,
            })
        # Where a step's time goes: the base model's forward pass for the anchor, llama.cpp's
        # forward and backward pass (of which: the label rewrite), the factors' update.
        labels = self.session.hook.seconds - labels_before
        parts = {"base_logprobs": parts["base_logprobs"], "forward_backward": parts["llama_cpp_step"] - labels,
                 "labels": labels, "lora_update": parts["lora_update"]}
        per_step = {name: round(seconds / max(len(losses), 1), 3) for name, seconds in parts.items()}
        return {"losses": losses, "kl": drifts, "train_seconds": step_seconds, "stopped_early": stopped_early,
                "step_seconds_by_part": per_step}


def run_metrics(history: dict, n_ctx: int, started: float, lora: LoraFactors) -> dict:
    losses = history["losses"]
    train_tokens = len(losses) * n_ctx
    tail = losses[-5:]
    return {
        "steps": len(losses),
        "stopped_early": history["stopped_early"],
        "first_loss": losses[0] if losses else None,
        "final_loss": float(np.mean(tail)) if tail else None,  # mean of the last 5 steps
        "loss_history": [round(x, 4) for x in losses],
        "anchor_kl_history": [round(x, 5) for x in history["kl"]],
        "n_ctx": n_ctx,
        "train_tokens": train_tokens,
        "tokens_per_s": train_tokens / history["train_seconds"] if history["train_seconds"] else 0.0,
        "seconds": time.monotonic() - started,
        "peak_rss_mb": peak_rss_mb(),
        "energy_by_rank": lora.energy_by_rank(),  # how much of the rank the deltas use
        "lora_alpha": lora.scale * lora.rank,
        "trained_tensors": len(lora.params),
        "step_seconds_by_part": history["step_seconds_by_part"],
    }


def check_cancel(callback: ProgressCallback) -> None:
    if callback.cancelled():
        raise TrainingCancelled("training was cancelled")


def peak_rss_mb() -> float:
    """Peak resident memory of this process in MB (Linux reports KB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if os.uname().sysname == "Darwin" else peak / 1024
