"""A night continues the adapter in use only when deletion stays exact (app/warm_start.py).

The adapters here are real GGUF LoRAs of the planned shape on the bundled model, promoted
through the real registry; the job test runs the real job with a recording trainer and reads
the report the job stored, as the CLI and the Learning view do.
"""

from __future__ import annotations

from dataclasses import replace

import gguf
import numpy as np
import pytest

from app.learning_job import JobOptions, run_learning_job
from app.learning_report import morning_report
from app.runs import TrainingRuns
from app.warm_start import choose_start
from ondevice.adapters import AdapterRegistry
from ondevice.architectures import family_defaults
from ondevice.training.dataset import content_sha256
from ondevice.training.gguf_lora import write_lora_gguf
from tests.learning_helpers import TinyRandomTrainer, add_memories



@pytest.fixture(autouse=True)
def use_shared_cache(shared_training_cache):
    pass


def planned(app):
    """The LoRA shape the job plans for the bundled model with the recording trainer."""
    return family_defaults(_Recording.default_args, app.model().path)


def lora_of_shape(app, path, args, seed=0):
    """A real GGUF LoRA on exactly the tensors a LoRA of `args` changes on the bundled model."""
    reader = gguf.GGUFReader(str(app.model().path))
    shapes = {t.name: [int(n) for n in t.shape] for t in reader.tensors}  # ggml order: (n_in, n_out)
    n_layer = 1 + max(int(name.split(".")[1]) for name in shapes if name.startswith("blk."))
    rng = np.random.default_rng(seed)
    pairs = {}
    for i in range(n_layer - args.num_layers, n_layer):
        for kind in args.targets:
            n_in, n_out = shapes[f"blk.{i}.{kind}.weight"]
            pairs[f"blk.{i}.{kind}.weight"] = (rng.normal(0, 1e-3, (args.rank, n_in)),
                                               rng.normal(0, 1e-3, (n_out, args.rank)))
    return write_lora_gguf(path, "llama", args.alpha, pairs)


def promote(app, tmp_path, args, memory_ids, line=None, name="a.gguf"):
    texts = {row["id"]: row["text"] for row in app.store.query("SELECT id, text FROM memories")}
    metrics = {"line": line} if line is not None else {}
    return AdapterRegistry(app.store, app.home).promote(
        lora_of_shape(app, tmp_path / name, args), app.model().sha256, "llamacpp", args.to_dict(), metrics,
        {m: content_sha256(texts[m]) for m in memory_ids}, set())


def test_a_night_continues_only_an_adapter_whose_whole_line_it_trains_again(app, tmp_path):
    args = planned(app)
    registry = AdapterRegistry(app.store, app.home)
    cat, lyon, oslo = add_memories(app, ["My cat is called Miso", "I live in Lyon", "I moved to Oslo"])

    start = choose_start(registry, app.model(), args, {cat, lyon}, set())
    assert start.path is None and start.night == 1 and "no adapter of this model is in use" in start.reason

    info = promote(app, tmp_path, args, [cat, lyon], line={"night": 2, "from": None, "feedback_ids": [7]})
    start = choose_start(registry, app.model(), args, {cat, lyon, oslo}, {7, 8})
    assert (start.path, start.version, start.night) == (info.path, info.version, 3)
    assert start.reason.startswith(f"Training continued from adapter {info.version}: night 3")
    continued = start.args(args)
    assert continued.start_from == str(info.path) and continued.seed == args.seed + 2  # its own order
    assert start.metrics({7, 8}) == {"night": 3, "from": info.version, "feedback_ids": [7, 8]}

    # Lyon superseded by Oslo tonight: the adapter that learned Lyon is not continued.
    start = choose_start(registry, app.model(), args, {cat, oslo}, {7})
    assert start.path is None and "learned 1 memory tonight does not train" in start.reason
    # A rated answer it learned is gone (its conversation deleted).
    start = choose_start(registry, app.model(), args, {cat, lyon}, {8})
    assert start.path is None and "rated answer" in start.reason
    # Another LoRA shape.
    start = choose_start(registry, app.model(), replace(args, rank=args.rank * 2), {cat, lyon}, {7})
    assert start.path is None and "other LoRA settings" in start.reason

    # Deleting a memory it learned taints it: nothing of it is continued.
    app.memories().delete(lyon)
    start = choose_start(registry, app.model(), args, {cat, oslo}, {7})
    assert start.path is None and "no adapter of this model is in use" in start.reason
    assert not info.path.exists()


def test_a_damaged_adapter_in_use_is_never_continued(app, tmp_path):
    args = planned(app)
    (cat,) = add_memories(app, ["My cat is called Miso"])
    info = promote(app, tmp_path, args, [cat])
    info.path.write_bytes(b"GGUF" + b"\0" * 64)  # no longer the promoted file
    start = choose_start(AdapterRegistry(app.store, app.home), app.model(), args, {cat}, set())
    assert start.path is None and start.night == 1


class _Recording(TinyRandomTrainer):
    """Records the args the job hands over (where training starts, the shuffle's seed)."""

    received = None

    def train(self, dataset, args, callback):
        type(self).received = args
        return super().train(dataset, args, callback)


def test_the_job_continues_the_adapter_in_use_and_the_report_says_so(app, tmp_path):
    args = planned(app)
    memory_ids = add_memories(app, ["My cat is called Miso", "I live in Lyon"])
    info = promote(app, tmp_path, args, memory_ids, line={"night": 1, "from": None, "feedback_ids": []})
    options = JobOptions(replay_limit=2, drift_text_limit=2, trainer_cls=_Recording)

    run_learning_job(app, trainer="llamacpp", max_minutes=0.5, options=options)
    assert _Recording.received.start_from == str(info.path) and _Recording.received.seed == 1
    stored = TrainingRuns(app.store).last_report()  # what the CLI and the Learning view read
    assert stored.starting_point.startswith(f"Training continued from adapter {info.version}: night 2")
    assert stored.starting_point in morning_report(stored)
    from ui.views.learning_report import report_html

    assert stored.starting_point.split(":")[0] in report_html(stored)

    run_learning_job(app, trainer="llamacpp", max_minutes=0.5, options=replace(options, fresh=True))
    assert _Recording.received.start_from is None and _Recording.received.seed == 0
    assert TrainingRuns(app.store).last_report().starting_point == "Training started from zero: asked to."
