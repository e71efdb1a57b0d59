"""`nocturne learn`, `nocturne adapters` and `nocturne report`: sleep-time learning from the CLI."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading

from app.cli.common import opened, table
from app.errors import InputError, NotFoundError
from app.self_command import nocturne_argv
from app.learning_report import morning_report
from app.run_progress import ProgressEvent, time_left

# Set in a child we re-executed with OpenBLAS preloaded, so it never re-executes again.
BLAS_REEXEC_ENV = "NOCTURNE_BLAS_REEXEC"
EXIT_CANCELLED = 130


def register(commands) -> None:
    learn = commands.add_parser("learn", help="run one sleep-time learning job now")
    learn.add_argument("--trainer", choices=["mlx", "llamacpp"], help="force a trainer")
    learn.add_argument("--max-minutes", type=float, metavar="N", help="stop training after N minutes")
    learn.add_argument("--fresh", action="store_true",
                       help="train from zero instead of continuing the adapter in use")
    learn.add_argument("--scheduled", action="store_true",
                       help="run only if the nightly conditions hold (learning on, machine idle)")
    learn.add_argument("--catch-up", action="store_true",
                       help="as --scheduled, for a night that was missed (recorded as catch-up)")
    learn.set_defaults(func=learn_cmd)

    adapters = commands.add_parser("adapters", help="your personal adapter versions")
    sub = adapters.add_subparsers(dest="adapters_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list adapter versions").set_defaults(func=adapters_list_cmd)
    use = sub.add_parser("use", help="make VERSION the active adapter (rollback)")
    use.add_argument("version")
    use.set_defaults(func=adapters_use_cmd)
    delete = sub.add_parser("delete", help="delete VERSION for good")
    delete.add_argument("version")
    delete.set_defaults(func=adapters_delete_cmd)

    report = commands.add_parser("report", help="the last learning run's report")
    report.set_defaults(func=report_cmd)


# -- learn ------------------------------------------------------------------------------------


class ProgressBar:
    """One self-rewriting stderr line on a terminal; one line per step in words otherwise."""

    def __init__(self, stream=sys.stderr):
        self.stream = stream
        self.tty = stream.isatty()
        self.words = None

    def __call__(self, event: ProgressEvent) -> None:
        if not self.tty:
            if event.words != self.words:
                self.stream.write(f"{event.words}...\n")
                self.stream.flush()
            self.words = event.words
            return
        width = 24
        filled = int(width * event.step / event.total) if event.total else 0
        left = time_left(event.eta_seconds)
        self.stream.write(f"\r{event.words:<30} [{'#' * filled}{'.' * (width - filled)}]"
                          f"{f' {left}' if left else ''}\033[K")
        if event.stage == "done":
            self.stream.write("\n")
        self.stream.flush()
        self.words = event.words


def _maybe_reexec_with_blas(trainer: str | None, setting: str | None) -> None:
    """MLX on Linux is ~20x faster with OpenBLAS, which only LD_PRELOAD at start can give."""
    from ondevice.training.select import choose_trainer

    if os.environ.get(BLAS_REEXEC_ENV):
        return
    try:
        if choose_trainer(trainer, setting) != "mlx":
            return
    except ValueError:
        return
    from ondevice.training.blas import blas_env, openblas_active

    extra = blas_env()
    if not extra or openblas_active():
        return
    env = {**os.environ, **extra, BLAS_REEXEC_ENV: "1"}
    argv = nocturne_argv() + sys.argv[1:]
    os.execve(argv[0], argv, env)


def learn_cmd(args: argparse.Namespace) -> int:
    from app.learning_job import JobOptions, run_learning_job

    if args.max_minutes is not None and args.max_minutes <= 0:
        raise InputError("--max-minutes must be more than 0: give the training time limit in minutes.")
    stop = threading.Event()

    def cancel(signum, frame) -> None:
        # SIGTERM (the desktop app's Cancel) and Ctrl-C end the run cleanly as 'cancelled'.
        stop.set()

    with opened() as app:
        if args.scheduled or args.catch_up:
            go, reason = _scheduled_gate(app)
            if not go:
                print(f"Not learning now: {reason}")
                return 0
        _maybe_reexec_with_blas(args.trainer, app.settings.get("trainer"))
        previous = {sig: signal.signal(sig, cancel) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            report = run_learning_job(
                app, trigger=_trigger(args), trainer=args.trainer,
                max_minutes=args.max_minutes, on_event=ProgressBar(), should_stop=stop.is_set,
                options=JobOptions(fresh=True) if args.fresh else None,
            )
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    print(morning_report(report))
    if report.status == "cancelled":
        return EXIT_CANCELLED
    return 0


def _trigger(args) -> str:
    """What started the run, as recorded in training_runs."""
    if args.catch_up:
        return "catch-up"
    return "scheduled" if args.scheduled else "manual"


def _scheduled_gate(app) -> tuple[bool, str]:
    try:
        from scheduler.gate import should_run_now
    except ImportError:
        # Without the scheduler's gate, at least honour the on/off switch.
        if not app.settings.get("learning_enabled"):
            return False, "nightly learning is switched off (setting learning_enabled)."
        return True, "learning is on."
    return should_run_now(app)


# -- adapters ---------------------------------------------------------------------------------


def _registry(app):
    from ondevice.adapters import AdapterRegistry

    return AdapterRegistry(app.store, app.home)


def adapters_list_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        adapters = _registry(app).list()
        if not adapters:
            print("No adapters yet: `nocturne learn` trains the first one.")
            return 0
        rows = []
        for info in adapters:
            recall = info.metrics.get("recall", {})
            rows.append([info.version, info.status, info.trainer, info.created_at,
                         f"{recall.get('adapter', 0):.0%}" if recall else "",
                         f"{info.metrics['drift_kl']:.4f}" if "drift_kl" in info.metrics else "",
                         info.metrics.get("status_reason", "")])
        print(table(rows, ["VERSION", "STATUS", "TRAINER", "CREATED", "RECALL", "DRIFT KL", "NOTE"]))
    return 0


def adapters_use_cmd(args: argparse.Namespace) -> int:
    from ondevice.adapters import AdapterRegistryError

    with opened() as app:
        try:
            info = _registry(app).use(args.version, app.model().sha256)
        except AdapterRegistryError as exc:
            raise NotFoundError(str(exc)) from exc
    print(f"Adapter {info.version} is now active; it loads at the next start.")
    return 0


def adapters_delete_cmd(args: argparse.Namespace) -> int:
    from ondevice.adapters import AdapterRegistryError

    with opened() as app:
        registry = _registry(app)
        try:
            registry.delete(args.version)
        except AdapterRegistryError as exc:
            raise NotFoundError(str(exc)) from exc
        active = registry.active()
    now = f"adapter {active.version} is active" if active else "the base model is used"
    print(f"Deleted adapter {args.version}; {now}.")
    return 0


# -- report -----------------------------------------------------------------------------------


def report_cmd(args: argparse.Namespace) -> int:
    from app.runs import TrainingRuns

    with opened() as app:
        runs = TrainingRuns(app.store)
        runs.recover_interrupted()
        run = runs.last()
        report = runs.report(run) if run else None
        progress = runs.current_progress()
    if report is None:
        print("No learning run yet: `nocturne learn` runs one now.")
        return 0
    print(f"Run {report.run_id} ({report.trigger}, {report.trainer}): {report.status}, "
          f"started {report.started_at}" + (f", ended {report.ended_at}" if report.ended_at else ""))
    if progress is not None:
        left = time_left(progress.eta_seconds)
        print(f"Still running: {progress.words}" + (f" ({progress.step}/{progress.total})" if progress.total else "")
              + (f", {left}" if left else ""))
    else:
        print(morning_report(report))
    if run.get("log") and report.status != "interrupted":  # an interruption's log is its reason
        print(run["log"])
    return 0
