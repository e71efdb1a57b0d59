"""The learning job's real entry point in its own process, with the fast fake trainer.

`nocturne learn` runs `run_learning_job(app, ...)`; this does the same with TinyRandomTrainer
registered as the tests register it (JobOptions), so a kill test can afford 20 runs.
Run as `python -m tests.fault_learn_child` with NOCTURNE_HOME set.
"""

from __future__ import annotations

from app.context import Nocturne
from app.learning_job import JobOptions, run_learning_job
from tests.learning_helpers import TinyRandomTrainer

FAST = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=TinyRandomTrainer)


def main() -> None:
    app = Nocturne()
    try:
        report = run_learning_job(app, options=FAST)
        print(report.status, flush=True)
    finally:
        app.close()


if __name__ == "__main__":
    main()
