"""The morning report: a learning run's outcome in a few plain sentences."""

from __future__ import annotations


def morning_report(report: dict) -> str:
    """A few plain sentences a user reads in the morning."""
    status = report.get("status")
    lines = []
    if status == "succeeded":
        learned = len(report.get("learned_memories", []))
        lines.append(f"Learned {learned} of {report.get('memories_trained', 0)} memories into adapter "
                     f"{report['adapter_version']} ({report['trainer']}); it loads at the next start.")
    elif status == "rejected":
        lines.append("No new adapter: " + report.get("reason", "it did not pass the checks."))
    elif status == "skipped":
        lines.append("Nothing was trained: " + str(report.get("reason", "this model cannot be trained here.")))
    elif status == "cancelled":
        lines.append("The learning run was cancelled; nothing changed.")
    else:
        lines.append("The learning run failed: " + str(report.get("reason", "unknown error")))
    if "recall" in report:
        r = report["recall"]
        lines.append(f"Recall on {r['probes']} held-out questions: base model {r['base']:.0%}, "
                     f"new adapter {r['adapter']:.0%}.")
        lines.append(f"Drift from the base model: KL {report['drift_kl']:.4f} (limit "
                     f"{report['drift_limit']:.4f}; Q4 quantization alone: {report['yardstick_kl']:.4f}).")
    train = report.get("train")
    if train:
        lines.append(f"Training: {train.get('seconds', 0):.0f} s, {train.get('tokens_per_s', 0):.0f} "
                     f"tokens/s, final loss {train.get('final_loss', float('nan')):.3f}.")
    if "wall_seconds" in report:
        lines.append(f"Whole run: {report['wall_seconds']:.0f} s.")
    return "\n".join(lines)
