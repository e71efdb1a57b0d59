"""The morning report: a learning run's outcome in a few plain sentences (CLI and views)."""

from __future__ import annotations

from app.run_report import IN_PROMPT, IN_WEIGHTS, NOT_PROBED, RunReport


def share(value: float | None) -> str:
    """0.8 -> "80%"; None -> "–" (not measured)."""
    return "–" if value is None else f"{value:.0%}"


def duration(seconds: float | None) -> str:
    """95 -> "1 min 35 s"; None -> "–"."""
    if seconds is None:
        return "–"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def headline(report: RunReport) -> str:
    """One sentence: what the run did."""
    if report.status == "succeeded":
        learned = len(report.learned_memories)
        return (f"Learned {learned} of {report.memories_trained} memories into adapter "
                f"{report.adapter_version} ({report.trainer}).")
    if report.status == "rejected":
        return "No new adapter: " + (report.reason or "it did not pass the checks.")
    if report.status == "skipped":
        return "Nothing was trained: " + (report.reason or "this model cannot be trained here.")
    if report.status == "cancelled":
        return "The learning run was cancelled; nothing changed."
    if report.status == "running":
        return "A learning run is going on."
    if report.status == "interrupted":
        return "The learning run stopped without finishing; the previous adapter stayed active."
    return "The learning run failed: " + (report.reason or "unknown error")


def recall_line(report: RunReport) -> str | None:
    if report.recall is None:
        return None
    r = report.recall
    line = f"Recall from the weights alone: {share(r.adapter)} (base model {share(r.base)}"
    line += f", {r.probes} held-out questions asking for a fact)" if r.probes else ")"
    if report.chat_recall is not None:
        chat = report.chat_recall
        line += (f". With the prompt chat sends, on {chat.probes} of them: {share(chat.adapter)} (base model "
                 f"with every memory in its prompt {share(chat.base)})")
    if report.recall_in_chat is not None:
        line += f"; memories answered in chat from the weights: {share(report.recall_in_chat)}"
    return line + "."


def drift_line(report: RunReport) -> str | None:
    if report.drift_kl is None:
        return None
    line = f"Drift from the base model: KL {report.drift_kl:.4f}"
    if report.drift_limit is not None:
        verdict = "under" if report.drift_kl <= report.drift_limit else "over"
        line += f", {verdict} the limit {report.drift_limit:.4f}"
    if report.yardstick_kl is not None:
        line += f" (Q4 quantization alone: {report.yardstick_kl:.4f})"
    if report.adapter_strength is not None and report.full_strength_drift_kl is not None:
        # A weaker copy is kept for drift, or for general answers when the full one's drift passed.
        why = ("" if report.drift_limit is None or report.full_strength_drift_kl > report.drift_limit
               else " for its general answers (below)")
        line += (f", with the adapter at {report.adapter_strength:.0%} strength{why}: at full strength "
                 f"it drifted KL {report.full_strength_drift_kl:.4f}")
    elif report.strengths_tried:  # weaker copies were measured and none passed
        line += ". Weaker copies tried: " + ", ".join(
            f"{t.strength:.0%} (KL {t.drift:.3f}" + (f", recall {t.recall:.0%}" if t.recall is not None else "")
            + (f", {t.general} general questions right)" if t.general is not None else ")")
            for t in report.strengths_tried)
    return line + "."


def general_line(report: RunReport) -> str | None:
    g = report.general_answers
    if g is None:
        return None
    weaker = ""
    if report.adapter_strength is not None and report.full_strength_general is not None:
        weaker = f" at {report.adapter_strength:.0%} strength ({report.full_strength_general} at full strength)"
    return (f"General questions (nothing about you) answered right: {g.adapter} of {g.questions} with the "
            f"adapter{weaker}, {g.base} by the base model (lost {g.lost}, gained {g.gained}).")


def left_out(report: RunReport, memory_id: int) -> str | None:
    """Why a memory was left out of training (a secret, too long, a control marker), or None."""
    taught = report.training_outcomes.get(str(memory_id), "")
    return taught if taught.startswith("not learned") else None


def memory_lines(report: RunReport) -> list[str]:
    """One line per memory: its text (or id), what became of it, and why it was left out."""
    lines = []
    for outcome in (IN_WEIGHTS, IN_PROMPT, NOT_PROBED):
        for memory in report.memory_results:
            if memory.outcome == outcome:
                why = left_out(report, memory.memory_id)
                lines.append(f"{memory.text or f'memory {memory.memory_id}'}: {outcome}"
                             + (f" ({why})" if why else ""))
    return lines


def training_line(report: RunReport) -> str:
    """How long training took, against the night's budget when it had one."""
    speed = f", {report.tokens_per_s:.0f} tokens/s" if report.tokens_per_s else ""
    if report.stopped_at_budget and report.budget_minutes:
        steps, planned = report.trainer_metrics.get("steps"), report.args.get("iterations")
        done = f" after {steps} of {planned} steps" if steps and planned else ""
        return (f"Training stopped at the night's {report.budget_minutes:g}-minute budget{done}{speed}; "
                f"a longer night: `nocturne settings set learning_minutes N`.")
    budget = f" of the night's {report.budget_minutes:g} minutes" if report.budget_minutes else ""
    return f"Training: {duration(report.training_seconds)}{budget}{speed}."


def morning_report(report: RunReport) -> str:
    """A few plain sentences a user reads in the morning."""
    lines = [headline(report)]
    if report.status == "succeeded":
        lines.append("It loads the next time Nocturne starts (an open app offers to load it now).")
    lines += filter(None, [recall_line(report), drift_line(report), general_line(report)])
    if report.memories_recalled is not None:
        lines.append(f"Memories recalled from the weights on every held-out question: "
                     f"{share(report.memories_recalled)} (a memory never asked counts as not recalled).")
    if report.memory_results:
        lines.append("Memories:")
        lines += [f"  - {line}" for line in memory_lines(report)]
    if report.training_seconds is not None:
        lines.append(training_line(report))
    if report.starting_point:
        lines.append(report.starting_point)
    if report.reading_practice:
        lines.append(report.reading_practice)
    if report.wall_seconds is not None:
        lines.append(f"Whole run: {duration(report.wall_seconds)}.")
    return "\n".join(lines)
