"""The learning job's real entry point in its own process, for the kill tests.

`nocturne learn` runs `run_learning_job(app, ...)`; this does the same and prints each progress
event's stage on its own line, so the parent can kill it inside a stage it chose.
Run as `python -m tests.fault_learn_child [--real]` with NOCTURNE_HOME set: by default with the
fast fake trainer (TinyRandomTrainer), with `--real` with the llama.cpp trainer on a tiny budget
(one optimizer step: every stage of a real run, the float copy, ggml-opt and export included).
"""

from __future__ import annotations

import sys

from app.context import Nocturne
from app.learning_job import JobOptions, run_learning_job
from ondevice.training.types import TrainArgs
from tests.learning_helpers import TinyRandomTrainer

FAST = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=TinyRandomTrainer)
# A real run kept cheap: one step of rank 2 on the last two layers, two replay answers, one
# drift text (a default run is 40+ steps on 16 layers: minutes a trial on a shared laptop).
TINY_REAL = JobOptions(replay_limit=2, drift_text_limit=1, args=TrainArgs(
    rank=2, alpha=4.0, iterations=1, batch_size=1, max_seq_len=64, num_layers=2))


def main() -> None:
    options = TINY_REAL if "--real" in sys.argv[1:] else FAST
    app = Nocturne()
    try:
        report = run_learning_job(app, options=options,
                                  on_event=lambda event: print("stage", event.stage, flush=True))
        print("status", report.status, flush=True)
    finally:
        app.close()


if __name__ == "__main__":
    main()
