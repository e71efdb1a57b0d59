"""One sleep-time learning run: memories -> training set -> LoRA -> evaluation gate -> promotion.

`run_learning_job` is the one function the CLI, the scheduler and the desktop app call. It takes
the run lock, records the run in `training_runs`, and never leaves a half-installed adapter: the
previous adapter stays active unless a new one passed the gate and was promoted atomically.
"""

from __future__ import annotations

import math
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Callable

from app.context import Nocturne
from app.errors import NocturneError
from app.learned_check import learned_in_chat
from app.learning_report import morning_report
from app.prompt import SYSTEM_PROMPT, system_message
from app.secrets_filter import find_secret
from app.runs import TrainingRuns
from ondevice import evaluation
from ondevice.adapters import AdapterRegistry
from ondevice.architectures import LearnCheck, can_learn
from ondevice.llama_engine import LlamaEngine
from ondevice.models import ModelFileError
from ondevice.training.dataset import ChatTemplate, build_training_set
from ondevice.training.replay import base_answers
from ondevice.training.select import choose_trainer, trainer_class
from ondevice.training.types import (
    ProgressCallback,
    TrainArgs,
    Trainer,
    TrainingCancelled,
    UnsupportedModel,
)
from scheduler.lock import RunLock, RunLockHeld

# Passes over the set: iterations = EPOCHS * examples / batch, at least the trainer's own
# default_args.iterations and at most MAX_ITERATIONS (which bounds a night on a slow machine).
EPOCHS = 4
MAX_ITERATIONS = 300
# Training needs the float copy of the base (cached) plus room for work files and the adapter.
DISK_FACTOR = 3
FEEDBACK_LIMIT = 200


class LearningError(NocturneError):
    """A learning run cannot start or failed; nothing was changed."""


@dataclass
class JobOptions:
    """Knobs for tests and benchmarks; the nightly job uses the defaults."""

    args: TrainArgs | None = None  # None: the trainer's defaults sized to the set; else as is
    replay_limit: int | None = None  # use only the first N shipped replay prompts
    drift_text_limit: int | None = None  # use only the first N drift texts
    seed: int = 0
    trainer_cls: type[Trainer] | None = None  # a Trainer subclass to use instead of the named one


def learn_check(app: Nocturne, trainer: str | None = None) -> LearnCheck:
    """Can the current model be trained here, and by which trainer (header only: milliseconds).

    The CLI's `learning status`, the Learning view and the Models pane show its reason.
    """
    return can_learn(app.model().path, trainer or app.settings.get("trainer"))


def learn_check_line(check: LearnCheck) -> str:
    """One line for a status display."""
    if check.ok:
        return f"Learning: {check.reason}"
    return f"This model can't be trained here: {check.reason}"


def approved_memories(app: Nocturne) -> list[tuple[int, str]]:
    rows = app.store.query("SELECT id, text FROM memories WHERE status = 'approved' ORDER BY id")
    return [(row["id"], row["text"]) for row in rows]


def propose_from_recent_chats(app: Nocturne, runs: TrainingRuns) -> list[int]:
    """Pending memories from what the user said since the last run; they wait for review and
    are never trained until approved."""
    last = runs.last()
    return app.memories().propose(since=last["started_at"] if last else None)


def feedback_pairs(app: Nocturne) -> list[tuple[str, str, str]]:
    """(kind, user message, answer) for corrected and liked assistant messages, newest first."""
    rows = app.store.query(
        "SELECT a.content, a.correction, a.rating, (SELECT u.content FROM messages u "
        "WHERE u.conversation_id = a.conversation_id AND u.id < a.id AND u.role = 'user' "
        "ORDER BY u.id DESC LIMIT 1) AS question FROM messages a WHERE a.role = 'assistant' "
        "AND (a.correction IS NOT NULL OR a.rating = 1) ORDER BY a.id DESC LIMIT ?",
        (FEEDBACK_LIMIT,),
    )
    pairs = []
    for row in rows:
        if not row["question"]:
            continue
        if row["correction"]:
            pairs.append(("correction", row["question"], row["correction"]))
        elif row["content"]:
            pairs.append(("liked", row["question"], row["content"]))
    return pairs


def sized_args(args: TrainArgs, examples: int, max_minutes: float | None, threads: int | None) -> TrainArgs:
    iterations = math.ceil(EPOCHS * examples / max(1, args.batch_size))
    return replace(args, iterations=min(MAX_ITERATIONS, max(args.iterations, iterations)),
                   max_minutes=max_minutes, threads=args.threads or threads)


def _f32_bytes(model_path) -> int:
    """Size of the float32 copy: every tensor of every part, 4 bytes an element."""
    from ondevice.gguf_header import read_header

    return sum(math.prod(t.shape) * 4 for t in read_header(model_path).tensors)


def check_disk(app: Nocturne, model) -> None:
    """Raise LearningError unless the data folder's disk has room for a training run."""
    need = DISK_FACTOR * model.size + _f32_bytes(model.path)
    free = shutil.disk_usage(app.home).free
    if free < need:
        raise LearningError(
            f"Learning needs about {need / 1e9:.1f} GB free next to {app.home} but only "
            f"{free / 1e9:.1f} GB is free: free some disk space and run `nocturne learn` again."
        )


def run_learning_job(
    app: Nocturne,
    trigger: str = "manual",
    trainer: str | None = None,
    max_minutes: float | None = None,
    on_event: Callable[[dict], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    options: JobOptions | None = None,
) -> dict:
    """Run one sleep-time learning job in this process.

    Args:
        app: the Nocturne instance (its store, settings, model).
        trigger: manual | scheduled | catch-up (recorded with the run).
        trainer: mlx | llamacpp to force one (default: the `trainer` setting, then the platform's).
        max_minutes: stop training after this long (the adapter learned so far is still evaluated).
        on_event: receives every progress dict (for a progress bar).
        should_stop: polled often; True cancels the run cleanly (status 'cancelled').
        options: test and benchmark knobs.

    Returns:
        The report dict (also stored as the run's metrics): status, reason, recall, drift, ...

    Raises:
        LearningError: the run cannot start (lock held, no memories, no disk, trainer missing)
            or failed (unsupported model, trainer error); the previous adapter stays active.
    """
    options = options or JobOptions()
    runs = TrainingRuns(app.store)
    try:
        lock = RunLock(app.home / "learning.lock")
        lock.__enter__()
    except RunLockHeld as exc:
        raise LearningError(f"{exc} Wait for it to finish, or cancel it first.") from exc
    try:
        runs.recover_interrupted()
        _remove_stale_work(app)
        return _run_locked(app, runs, trigger, trainer, max_minutes, on_event, should_stop, options)
    finally:
        lock.__exit__(None, None, None)


def _remove_stale_work(app: Nocturne) -> None:
    """Scratch folders of runs that were killed (we hold the lock, so none is in use)."""
    root = app.home / "runs"
    if root.is_dir():
        for entry in root.iterdir():
            shutil.rmtree(entry, ignore_errors=True)


def _run_locked(app, runs, trigger, trainer_flag, max_minutes, on_event, should_stop, options) -> dict:
    wanted = trainer_flag or app.settings.get("trainer")
    try:
        name = choose_trainer(trainer_flag, app.settings.get("trainer"))
    except ValueError as exc:
        raise LearningError(f"The trainer is not valid ({exc}).") from exc
    # From the model's header, before any work: a model no trainer handles is a skipped run.
    check = learn_check(app, wanted)
    if not check.ok:
        return _skipped(app, runs, trigger, name, check.reason, on_event)
    try:  # training renders every example with the template chat uses
        app.model().chat_template()
    except ModelFileError as exc:
        return _skipped(app, runs, trigger, name, str(exc), on_event)
    name = check.trainer  # auto may fall back to the trainer that handles this family
    try:
        trainer_cls = options.trainer_cls or trainer_class(name)
    except ImportError as exc:
        raise LearningError(
            f"The {name} trainer is not installed here ({exc}): install Nocturne with its "
            f"`mlx` extra, or use `--trainer llamacpp`." if name == "mlx" else
            f"The {name} trainer cannot be imported ({exc}): reinstall Nocturne."
        ) from exc
    proposed = propose_from_recent_chats(app, runs)
    memories = approved_memories(app)
    if not memories:
        raise LearningError(
            "There are no approved memories to learn: approve some with `nocturne memories` "
            "(or tell the assistant \"remember that ...\") and run `nocturne learn` again."
        )
    model = app.model()
    check_disk(app, model)

    run_id = runs.start(trigger, name)
    started = time.monotonic()
    log: list[str] = []

    def emit(event: dict) -> None:
        runs.progress(run_id, event)
        if on_event:
            on_event(event)

    stop = should_stop or (lambda: False)
    report = {"run_id": run_id, "trigger": trigger, "trainer": name, "base_model": model.name,
              "base_sha256": model.sha256, "memories": len(memories), "proposed": len(proposed)}
    work = app.home / "runs" / str(run_id)
    try:
        result = _pipeline(app, model, name, trainer_cls, memories, max_minutes, emit, stop,
                           options, run_id, work, report, log)
    except (TrainingCancelled, InterruptedError):
        report.update(status="cancelled", reason="the run was cancelled; nothing changed.")
        result = report
    except UnsupportedModel as exc:
        report.update(status="failed", reason=f"{exc}")
        _finish(runs, run_id, report, log, started)
        raise LearningError(f"The {name} trainer cannot train {model.name} ({exc}); nothing was "
                            "changed.") from exc
    except NocturneError as exc:
        report.update(status="failed", reason=str(exc))
        _finish(runs, run_id, report, log, started)
        raise
    except Exception as exc:
        report.update(status="failed", reason=f"{type(exc).__name__}: {exc}")
        _finish(runs, run_id, report, log, started)
        raise LearningError(f"Learning failed ({type(exc).__name__}: {exc}); the previous "
                            "adapter stays active. See `nocturne report`.") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _finish(runs, run_id, result, log, started)
    emit({"stage": "done", "status": result["status"]})
    return result


def _skipped(app, runs, trigger, trainer, reason, on_event) -> dict:
    """Record a run that trained nothing because the model cannot be trained here."""
    run_id = runs.start(trigger, trainer)
    model = app.model()
    report = {"run_id": run_id, "trigger": trigger, "trainer": trainer, "base_model": model.name,
              "base_sha256": model.sha256, "status": "skipped", "reason": reason}
    _finish(runs, run_id, report, [], time.monotonic())
    if on_event:
        on_event({"stage": "done", "status": "skipped"})
    return report


def _finish(runs, run_id, report, log, started) -> None:
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    report["summary"] = morning_report(report)
    runs.finish(run_id, report["status"], report, report.get("adapter_version"), "\n".join(log) or None)


def _pipeline(app, model, name, trainer_cls, memories, max_minutes, emit, stop, options,
              run_id, work, report, log) -> dict:
    threads = app.settings.get("threads")
    cache = app.home / "cache" / "training"
    template = ChatTemplate.for_model(model)

    replay = base_answers(
        model, cache, SYSTEM_PROMPT, limit=options.replay_limit, n_threads=threads, should_stop=stop,
        on_step=lambda done, total: emit({"stage": "replay", "step": done, "total": total}),
    )
    if stop():
        raise TrainingCancelled()

    count_tokens = _token_counter(model.path)
    dataset, built = build_training_set(
        memories, template, SYSTEM_PROMPT, count_tokens, replay=replay,
        feedback=feedback_pairs(app), is_secret=find_secret, seed=options.seed,
        system_with_memories=lambda texts: system_message(texts)["content"],
    )
    log += [f"left out {item}" for item in built.skipped_secrets]
    report.update(examples=built.counts, tokens=built.tokens, probes=len(dataset.probes),
                  memories_trained=len(built.memories_used))
    if not built.memories_used:
        raise LearningError("Every approved memory looks like a secret, so nothing can be learned: "
                            "review them with `nocturne memories`.")

    if options.args is not None:  # given explicitly: used as is
        args = replace(options.args, max_minutes=max_minutes or options.args.max_minutes)
    else:
        args = sized_args(trainer_cls.default_args, len(dataset.examples), max_minutes, threads)
    trainer = trainer_cls(model.path, model.sha256, cache, work)
    emit({"stage": "train", "step": 0, "total": args.iterations})
    trained = trainer.train(dataset, args, ProgressCallback(emit, stop))
    report["train"] = {k: v for k, v in trained.metrics.items() if k != "losses"}
    report["args"] = trained.args.to_dict()

    # The gate: recall from the weights alone (no memories in the prompt), then drift.
    emit({"stage": "evaluate", "step": 0, "total": 5, "message": "base model recall"})
    base = _recall(model, None, dataset.probes, threads, stop)
    emit({"stage": "evaluate", "step": 1, "total": 5, "message": "adapter recall"})
    try:
        adapter = _recall(model, trained.path, dataset.probes, threads, stop)
    except Exception as exc:  # an adapter the app's engine cannot load is rejected, not promoted
        report.update(status="rejected", reason=f"the new adapter could not be loaded ({exc}).")
        return report
    texts = evaluation.drift_texts()[: options.drift_text_limit]
    emit({"stage": "evaluate", "step": 2, "total": 5, "message": "drift"})
    drift = evaluation.mean_kl(model.path, texts, adapter_path=trained.path, n_threads=threads, should_stop=stop)
    emit({"stage": "evaluate", "step": 3, "total": 5, "message": "quantization yardstick"})
    yardstick = evaluation.quantization_yardstick(model.path, model.sha256, cache, texts, threads, stop)
    promote, reason = evaluation.decide(base.rate, adapter.rate, drift, yardstick)
    bare_recalled = adapter.recalled_memories()
    report.update(
        recall={"base": base.rate, "adapter": adapter.rate, "probes": adapter.total},
        drift_kl=drift, yardstick_kl=yardstick, drift_limit=evaluation.drift_limit(yardstick),
        probe_answers=[{**row, "base_answer": b["answer"]} for row, b in zip(adapter.answers, base.answers)],
        reason=reason, learned_memories=sorted(bare_recalled),
    )
    if not promote:
        report["status"] = "rejected"
        return report
    emit({"stage": "evaluate", "step": 4, "total": 5, "message": "recall in chat"})
    with _engine(model, trained.path, threads) as candidate:
        recalled = learned_in_chat(candidate, app.store, dataset.probes, bare_recalled, stop)
    report.update(learned_memories=sorted(recalled), recalled_without_prompt=len(bare_recalled))
    if stop():
        raise TrainingCancelled()
    metrics = {k: report[k] for k in ("recall", "drift_kl", "yardstick_kl", "drift_limit")}
    metrics["train"] = report["train"]
    info = AdapterRegistry(app.store, app.home).promote(
        trained.path, model.sha256, name, report["args"], metrics, dataset.memory_hashes,
        recalled, run_id=run_id,
    )
    pruned = AdapterRegistry(app.store, app.home).prune(app.settings.get("keep_adapters"))
    if pruned:
        log.append("removed old adapters " + ", ".join(pruned))
    app.reset_engine()  # this process's next answer uses the new adapter too
    report.update(status="succeeded", adapter_version=info.version)
    return report


@contextmanager
def _engine(model, adapter_path, threads):
    """The app's engine on the base model, with the candidate adapter when given, loaded."""
    engine = LlamaEngine(model, adapter_path=adapter_path, adapter_version="candidate" if adapter_path else None,
                         n_threads=threads)
    try:
        engine.load()
        yield engine
    finally:
        engine.close()


def _recall(model, adapter_path, probes, threads, stop, system_prompt: str = SYSTEM_PROMPT):
    with _engine(model, adapter_path, threads) as engine:
        return evaluation.recall(engine, probes, system_prompt, should_stop=stop)


def in_context_recall(model, memories: list[str], probes, threads=None):
    """Recall with the memories in the system prompt (the benchmark's in-context column)."""
    return _recall(model, None, probes, threads, None, system_message(memories)["content"])


def _token_counter(model_path) -> Callable[[str], int]:
    """Token count of a rendered text with the base model's own tokenizer (vocab only: fast)."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
