"""Runs `nocturne learn` in a child process, so a crash or out-of-memory in training cannot take
the app down; tracks the child and cancels it (SIGTERM, which the learn command turns into a
clean 'cancelled' run).
"""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from app.errors import NocturneError
from app.paths import HOME_ENV, subdir
from app.self_command import nocturne_argv
from scheduler.lock import RunLock

LOCK_FILE = "learning.lock"  # the name `nocturne learn` locks in the data folder
LOG_FILE = "learning-child.log"
# Where `python -m app.cli.main` resolves when running from a source checkout.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class RunBusyError(NocturneError):
    """A learning run is already going on."""


def run_lock(home: Path) -> RunLock:
    """The lock every learning run of this data folder takes."""
    return RunLock(Path(home) / LOCK_FILE)


def learn_env_additions() -> dict[str, str]:
    """The OpenBLAS preload the trainer wants in its environment (empty where there is none)."""
    try:
        from ondevice.training.blas import blas_env
    except ImportError:  # a build without the MLX trainer
        return {}
    return blas_env()


class LearnLauncher:
    """Starts, tracks and cancels one `nocturne learn` child for the data folder `home`.

    Args:
        home: the data folder; the child gets it as NOCTURNE_HOME.
    """

    def __init__(self, home: Path):
        self.home = Path(home)
        self.lock = run_lock(self.home)
        self.process: subprocess.Popen | None = None

    def command(self, scheduled: bool, catch_up: bool = False) -> list[str]:
        """The child's argv: `nocturne learn`, with --scheduled when the night's trigger fired
        (--catch-up when it runs a night that was missed)."""
        argv = nocturne_argv() + ["learn"]
        if catch_up:
            return argv + ["--catch-up"]
        return argv + ["--scheduled"] if scheduled else argv

    def environment(self) -> dict[str, str]:
        """The child's environment: ours, the data folder, and the BLAS preload for training."""
        return {**os.environ, HOME_ENV: str(self.home), **learn_env_additions()}

    def launch(self, scheduled: bool = True, catch_up: bool = False) -> subprocess.Popen:
        """Start the child; its output goes to logs/learning-child.log in the data folder.

        Args:
            scheduled: pass --scheduled (the child re-checks idle/power and may decline).
            catch_up: pass --catch-up instead: as --scheduled, recorded as a catch-up run.

        Returns:
            The running child process.

        Raises:
            RunBusyError: a run (ours, or one the OS agent started) is going on.
        """
        pid = self.running_pid()
        if pid is not None:
            raise RunBusyError(
                f"A learning run (pid {pid}) is already going on: wait for it to finish or "
                "cancel it first."
            )
        log_path = subdir(self.home, "logs") / LOG_FILE
        log = open(os.open(log_path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600), "wb")
        try:
            self.process = subprocess.Popen(
                self.command(scheduled, catch_up),
                env=self.environment(),
                cwd=PROJECT_ROOT if (PROJECT_ROOT / "app").is_dir() else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                # Its own session: a Ctrl-C aimed at the app's terminal does not kill training.
                start_new_session=True,
            )
        finally:
            log.close()  # the child holds its own copy
        return self.process

    def own_child_alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def running_pid(self) -> int | None:
        """Pid of the run in progress: our child, or whoever holds the run lock; None if idle."""
        if self.own_child_alive():
            return self.process.pid
        return self.lock.holder()

    def is_running(self) -> bool:
        return self.running_pid() is not None

    def cancel(self) -> bool:
        """Ask the run in progress to stop (SIGTERM); it ends as 'cancelled'. Does not wait.

        Returns:
            True when a run was told to stop, False when none was running.
        """
        if self.own_child_alive():
            self.process.terminate()
            return True
        pid = self.lock.holder()  # a run the OS agent started: same data, same right to stop it
        if pid is None or pid == os.getpid():
            return False
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return False
        return True

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for our child to end; its exit code, or None if it is still running or absent."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        """Stop our child at once (SIGKILL): the run is recorded as interrupted at the next start."""
        if self.own_child_alive():
            self.process.kill()
            self.process.wait()
