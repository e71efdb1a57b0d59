"""One sleep-time learning run: memories -> training set -> LoRA -> evaluation gate -> promotion.

`run_learning_job` is the one function the CLI, the scheduler and the desktop app call. It takes
the run lock, records the run in `training_runs`, and never leaves a half-installed adapter: the
previous adapter stays active unless a new one passed the gate and was promoted atomically.
"""

from __future__ import annotations

import math
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Callable

from app.context import Nocturne
from app.learning_gate import candidate_engine, check_general, check_in_chat, run_gate
from app.errors import NocturneError
from app.learned_check import learned_from_weights, recall_summary
from app.memory_conflicts import without_superseded
from app.nightly_proposals import ProposalStep, propose_new_turns
from app.rated_answers import rated_answers
from app.prompt import SYSTEM_PROMPT, system_message
from app.reading_practice import last_pace, reading_plan
from app.run_progress import ProgressClock, ProgressEvent
from app.run_report import Recall, RunReport, memory_results
from app.secrets_filter import find_secret
from app.warm_start import choose_start, fresh
from app.runs import TrainingRuns
from ondevice.adapters import AdapterRegistry
from ondevice.architectures import LearnCheck, can_learn, family_defaults
from ondevice.models import ModelFileError
from ondevice.training.dataset import ChatTemplate, build_training_set
from ondevice.training.replay import base_answers
from ondevice.training.abi import AbiMismatch
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
# default_args.iterations. No step cap: the night's time (setting learning_minutes) bounds it.
EPOCHS = 4
# Training needs the float copy of the base (cached) plus room for work files and the adapter.
DISK_FACTOR = 3


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
    # For sweeps (bench/learning.py --rank/--layers/--epochs): TrainArgs fields set on the
    # trainer's defaults, and passes over the set, before sizing to the set.
    tuning: dict = field(default_factory=dict)
    epochs: float = EPOCHS
    # None: on when the night cannot cover the set (app/reading_practice.py); bench/learning.py
    # --reading-share sets it.
    reading_share: float | None = None
    fresh: bool = False  # train from zero even when the adapter in use could be continued


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


def propose_from_recent_chats(app: Nocturne, runs: TrainingRuns) -> ProposalStep:
    """Pending memories from what the user said since the step last read, within its time
    budget (app.nightly_proposals); they wait for review and are never trained until approved."""
    last = runs.last()
    return propose_new_turns(app, last["started_at"] if last else None)


def sized_args(args: TrainArgs, examples: int, max_minutes: float | None, threads: int | None,
               epochs: float = EPOCHS) -> TrainArgs:
    iterations = math.ceil(epochs * examples / max(1, args.batch_size))
    return replace(args, iterations=max(args.iterations, iterations),
                   max_minutes=max_minutes, threads=args.threads or threads)


def planned_args(defaults: TrainArgs, options: JobOptions, examples: int, max_minutes: float | None,
                 threads: int | None) -> TrainArgs:
    """The run's hyper-parameters: options.args as given, else the trainer's defaults (with any
    sweep tuning) sized to the set and bounded by the night's time."""
    if options.args is not None:
        return replace(options.args, max_minutes=max_minutes or options.args.max_minutes)
    return sized_args(replace(defaults, **options.tuning), examples, max_minutes, threads, options.epochs)


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
    on_event: Callable[[ProgressEvent], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    options: JobOptions | None = None,
) -> RunReport:
    """Run one sleep-time learning job in this process.

    Args:
        app: the Nocturne instance (its store, settings, model).
        trigger: manual | scheduled | catch-up (recorded with the run).
        trainer: mlx | llamacpp to force one (default: the `trainer` setting, then the platform's).
        max_minutes: stop training after this long (the adapter learned so far is still evaluated).
        on_event: receives every progress event (for a progress bar).
        should_stop: polled often; True cancels the run cleanly (status 'cancelled').
        options: test and benchmark knobs.

    Returns:
        The run's report (also stored as the run's metrics).

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


def _run_locked(app, runs, trigger, trainer_flag, max_minutes, on_event, should_stop, options) -> RunReport:
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
    except AbiMismatch as exc:
        raise LearningError(str(exc)) from exc
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

    previous = runs.last_report()
    run_id = runs.start(trigger, name)
    started = time.monotonic()
    log: list[str] = [proposed.log_line()] if proposed.turns else []
    # A run that went through every stage tells how long the stages take.
    complete = previous is not None and previous.status in ("succeeded", "rejected")
    clock = ProgressClock(previous.stage_seconds if complete else {})

    def emit(raw: dict) -> None:
        event = clock.event(raw)
        runs.progress(run_id, event)
        if on_event:
            on_event(event)

    stop = should_stop or (lambda: False)
    report = RunReport(status="running", trigger=trigger, trainer=name, base_model=model.name,
                       run_id=run_id, started_at=runs.get(run_id)["started_at"],
                       base_sha256=model.sha256, memories=len(memories), proposed=len(proposed.proposed))
    work = app.home / "runs" / str(run_id)
    try:
        _pipeline(app, model, name, trainer_cls, memories, max_minutes, emit, stop,
                  options, run_id, work, report, log)
    except (TrainingCancelled, InterruptedError):
        report.status, report.reason = "cancelled", "the run was cancelled; nothing changed."
    except UnsupportedModel as exc:
        report.status, report.reason = "failed", f"{exc}"
        _finish(runs, report, log, started, clock)
        raise LearningError(f"The {name} trainer cannot train {model.name} ({exc}); nothing was "
                            "changed.") from exc
    except NocturneError as exc:
        report.status, report.reason = "failed", str(exc)
        _finish(runs, report, log, started, clock)
        raise
    except Exception as exc:
        report.status, report.reason = "failed", f"{type(exc).__name__}: {exc}"
        _finish(runs, report, log, started, clock)
        raise LearningError(f"Learning failed ({type(exc).__name__}: {exc}); the previous "
                            "adapter stays active. See `nocturne report`.") from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _finish(runs, report, log, started, clock)
    emit({"stage": "done"})
    return report


def _skipped(app, runs, trigger, trainer, reason, on_event) -> RunReport:
    """Record a run that trained nothing because the model cannot be trained here."""
    run_id = runs.start(trigger, trainer)
    model = app.model()
    report = RunReport(status="skipped", trigger=trigger, trainer=trainer, base_model=model.name,
                       run_id=run_id, started_at=runs.get(run_id)["started_at"],
                       base_sha256=model.sha256, reason=reason)
    clock = ProgressClock({})
    _finish(runs, report, [], time.monotonic(), clock)
    if on_event:
        on_event(clock.event({"stage": "done"}))
    return report


def _finish(runs, report: RunReport, log, started, clock: ProgressClock) -> None:
    report.wall_seconds = round(time.monotonic() - started, 1)
    report.stage_seconds = clock.stop()
    runs.finish(report.run_id, report, "\n".join(log) or None)  # stored without memory texts


def _pipeline(app, model, name, trainer_cls, memories, max_minutes, emit, stop, options,
              run_id, work, report: RunReport, log) -> None:
    """Build the set, train, run the gate and promote; fills `report` as it goes."""
    threads = app.settings.get("threads")
    cache = app.home / "cache" / "training"
    template = ChatTemplate.for_model(model)

    emit({"stage": "replay", "step": 0, "total": 0})  # shown even when the answers are cached
    replay = base_answers(
        model, cache, SYSTEM_PROMPT, limit=options.replay_limit, n_threads=threads, should_stop=stop,
        on_step=lambda done, total: emit({"stage": "replay", "step": done, "total": total}),
    )
    if stop():
        raise TrainingCancelled()

    # Contradicted memories: the newer one is trained, the older waits for review (not lost).
    memories, conflicts = without_superseded(memories)
    report.superseded = sorted(c.older_id for c in conflicts)
    count_tokens = token_counter(model.path)
    rated = rated_answers(app)
    feedback = [pair for _, pair in rated]

    def build(reading_share: float):
        return build_training_set(
            memories, template, SYSTEM_PROMPT, count_tokens, replay=replay,
            feedback=feedback, is_secret=find_secret, seed=options.seed,
            system_with_memories=lambda texts: system_message(texts)["content"],
            reading_share=reading_share,
        )

    budget = max_minutes or (app.settings.get("learning_minutes") if options.args is None else None)
    defaults = family_defaults(trainer_cls.default_args, model.path)
    dataset, built = build(options.reading_share or 0.0)
    args = planned_args(defaults, options, len(dataset.examples), budget, threads)
    if options.reading_share is None:
        pace = last_pace(TrainingRuns(app.store).reports(limit=20), name, model.sha256)
        plan = reading_plan(args.iterations, args.max_minutes, pace)
        report.reading_practice = plan.reason
        if plan.share:  # the same set plus the reading examples (the same seed)
            dataset, built = build(plan.share)
            args = planned_args(defaults, options, len(dataset.examples), budget, threads)
    report.reading_examples = built.reading_practice
    log += [f"left out {item}" for item in built.skipped_secrets + built.skipped_control_text]
    report.examples, report.tokens = built.counts, built.tokens
    report.memories_trained = len(built.memories_used)
    report.training_outcomes = {str(memory_id): outcome for memory_id, outcome in built.outcomes.items()}
    probed = {probe.memory_id for probe in dataset.probes}
    report.memory_results = memory_results(memories, probed, set())
    if not built.memories_used:
        raise LearningError("Every approved memory looks like a secret, so nothing can be learned: "
                            "review them with `nocturne memories`.")
    report.budget_minutes = args.max_minutes
    start = fresh("asked to") if options.fresh else choose_start(
        AdapterRegistry(app.store, app.home), model, args, set(built.memories_used), {i for i, _ in rated})
    args = start.args(args)
    report.starting_point = start.reason
    trainer = trainer_cls(model.path, model.sha256, cache, work)
    emit({"stage": "train", "step": 0, "total": args.iterations})
    trained = trainer.train(dataset, args, ProgressCallback(emit, stop))
    report.trainer_metrics = {k: v for k, v in trained.metrics.items() if k != "losses"}
    report.training_seconds = trained.metrics.get("seconds")
    report.tokens_per_s = trained.metrics.get("tokens_per_s")
    report.final_loss = trained.metrics.get("final_loss")
    report.args = trained.args.to_dict()

    engines = lambda path: candidate_engine(model, path, threads)  # noqa: E731
    gate = run_gate(model, trained.path, dataset.probes, work, cache, threads, stop, emit,
                    options.drift_text_limit,
                    lambda path: check_general(engines, path, model.sha256, cache, stop, emit))
    gate.record(report)
    if gate.adapter is None:
        report.status = "rejected"
        return
    base, adapter, drift, yardstick = gate.base, gate.adapter, gate.drift, gate.yardstick
    bare_recalled = learned_from_weights(adapter, base)
    every_memory = [memory_id for memory_id, _ in memories]
    # Per memory, a memory never probed counting as a failure (it is never left out of the rate).
    report.memories_recalled = recall_summary(every_memory, adapter, set()).bare_rate
    if not gate.promote:
        report.status = "rejected"  # nothing is in the weights: every memory stays in the prompt
        return
    chat = check_in_chat(engines, gate.adapter_path, app.store, dataset.probes, bare_recalled, stop, emit)
    report.chat_recall = Recall(adapter=chat.adapter.rate, base=chat.base.rate, probes=chat.adapter.total)
    if not chat.promote:
        report.status, report.reason = "rejected", chat.reason  # every memory stays in the prompt
        return
    recalled = chat.learned
    report.memory_results = memory_results(memories, probed, recalled)
    report.recall_in_chat = recall_summary(every_memory, adapter, recalled).chat_rate
    if stop():
        raise TrainingCancelled()
    metrics = {"recall": asdict(report.recall), "drift_kl": drift, "yardstick_kl": yardstick,
               "drift_limit": report.drift_limit, "recall_in_chat": report.recall_in_chat,
               "strength": report.adapter_strength,
               "train": report.trainer_metrics, "line": start.metrics({i for i, _ in rated})}
    info = AdapterRegistry(app.store, app.home).promote(
        gate.adapter_path, model.sha256, name, report.args, metrics, dataset.memory_hashes,
        recalled, run_id=run_id,
    )
    pruned = AdapterRegistry(app.store, app.home).prune(app.settings.get("keep_adapters"))
    if pruned:
        log.append("removed old adapters " + ", ".join(pruned))
    app.reset_engine()  # this process's next answer uses the new adapter too
    report.status, report.adapter_version = "succeeded", info.version


def token_counter(model_path) -> Callable[[str], int]:
    """Token count of a rendered text with the base model's own tokenizer (vocab only: fast)."""
    from llama_cpp import Llama

    vocab = Llama(model_path=str(model_path), vocab_only=True, verbose=False)
    return lambda text: len(vocab.tokenize(text.encode("utf-8"), add_bos=False, special=True))
