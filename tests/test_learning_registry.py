"""Adapter registry (versions, promotion, rollback, taint) and the training-runs table."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.run_progress import ProgressEvent
from app.run_report import RunReport
from app.runs import TrainingRuns
from ondevice.adapters import AdapterRegistry, AdapterRegistryError
from ondevice.training.dataset import content_sha256
from tests.learning_helpers import add_memories, write_small_lora


@pytest.fixture
def registry(app):
    return AdapterRegistry(app.store, app.home)


def promote(registry, tmp_path, base_sha, memories: dict[int, str], name="a.gguf"):
    path = write_small_lora(tmp_path / name)
    hashes = {m: content_sha256(t) for m, t in memories.items()}
    return registry.promote(path, base_sha, "llamacpp", {"rank": 4}, {"drift_kl": 0.01}, hashes,
                            recalled=set(list(memories)[:1]), run_id=None)


def test_promotion_writes_an_immutable_version_with_manifest(app, registry, tmp_path):
    sha = app.model().sha256
    ids = add_memories(app, ["I live in Lyon", "I like jazz"])
    info = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon", ids[1]: "I like jazz"})
    folder = app.home / "adapters" / info.version
    manifest = json.loads((folder / "manifest.json").read_text())
    assert info.status == "active" and info.path == folder / "adapter.gguf" and info.path.is_file()
    assert manifest["base_sha256"] == sha and manifest["trainer"] == "llamacpp"
    assert [m["id"] for m in manifest["memories"]] == ids
    assert registry.recalled_memory_ids() == {ids[0]}
    assert not [p for p in (app.home / "adapters").iterdir() if p.name.startswith(".")]
    assert registry.loadable(sha).version == info.version


def test_the_app_loads_the_active_adapter_at_start(app, registry, tmp_path):
    sha = app.model().sha256
    ids = add_memories(app, ["I live in Lyon"])
    info = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"})
    engine = app.load_engine()
    assert engine.adapter_version == info.version and app.notice is None


def test_rollback_delete_and_prune(app, registry, tmp_path):
    sha = app.model().sha256
    ids = add_memories(app, ["I live in Lyon"])
    first = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"}, "1.gguf")
    second = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"}, "2.gguf")
    assert registry.get(first.version).status == "retired" and registry.active().version == second.version
    registry.use(first.version, sha)
    assert registry.active().version == first.version
    assert registry.get(second.version).status == "retired"
    registry.delete(first.version)
    assert registry.get(first.version) is None and not (app.home / "adapters" / first.version).exists()
    assert registry.active().version == second.version  # fell back to the newest clean one
    third = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"}, "3.gguf")
    assert registry.prune(keep=1) == [second.version]
    assert [i.version for i in registry.list()] == [third.version]
    with pytest.raises(AdapterRegistryError, match="no adapter"):
        registry.use("nope")


def test_never_loads_an_adapter_of_another_base_or_a_deleted_memory(app, registry, tmp_path):
    sha = app.model().sha256
    ids = add_memories(app, ["I live in Lyon", "I like jazz"])
    clean = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"}, "clean.gguf")
    tainted = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon", ids[1]: "I like jazz"}, "t.gguf")
    assert registry.loadable("0" * 64) is None  # another base model
    with app.store.transaction() as db:
        db.execute("DELETE FROM memories WHERE id = ?", [ids[1]])
    chosen = registry.loadable(sha)
    assert chosen.version == clean.version
    assert registry.get(tainted.version).status == "tainted"
    assert "deleted" in registry.notice and clean.version in registry.notice
    with pytest.raises(AdapterRegistryError, match="tainted"):
        registry.use(tainted.version)


def test_an_edited_memory_taints_too_and_a_missing_file_falls_back_to_base(app, registry, tmp_path):
    sha = app.model().sha256
    ids = add_memories(app, ["I live in Lyon"])
    info = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"})
    with app.store.transaction() as db:
        db["memories"].update(ids[0], {"text": "I live in Paris"})
    assert registry.loadable(sha) is None and registry.get(info.version).status == "tainted"
    with app.store.transaction() as db:
        db["memories"].update(ids[0], {"text": "I live in Lyon"})
    other = promote(registry, tmp_path, sha, {ids[0]: "I live in Lyon"}, "b.gguf")
    other.path.unlink()
    assert registry.loadable(sha) is None
    assert registry.get(other.version).status == "broken" and "missing" in registry.notice


def test_a_crash_between_files_and_row_leaves_an_orphan_that_is_cleaned(app, registry, tmp_path):
    orphan = app.home / "adapters" / ".20990101-000000.partial"
    orphan.mkdir(parents=True)
    (app.home / "adapters" / "20990101-000001").mkdir()
    ids = add_memories(app, ["I live in Lyon"])
    promote(registry, tmp_path, app.model().sha256, {ids[0]: "I live in Lyon"})
    names = [p.name for p in (app.home / "adapters").iterdir()]
    assert len(names) == 1 and names[0] == registry.active().version


def test_runs_record_progress_and_finish(app):
    runs = TrainingRuns(app.store)
    run_id = runs.start("manual", "llamacpp")
    runs.progress(run_id, ProgressEvent("train", 3, 10, eta_seconds=42.0))
    row = runs.get(run_id)
    assert row["status"] == "running" and runs.current_progress() == ProgressEvent("train", 3, 10, eta_seconds=42.0)
    runs.finish(run_id, RunReport("rejected", reason="no better"), "log line")
    last = runs.last()
    assert last["id"] == run_id and last["status"] == "rejected" and last["log"] == "log line"
    assert runs.report(last).reason == "no better" and runs.current_progress() is None
    assert last["ended_at"] and runs.list()[0]["id"] == run_id


def test_a_run_whose_process_died_is_marked_interrupted_at_the_next_start(app, nocturne_home):
    runs = TrainingRuns(app.store)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    with app.store.transaction() as db:
        table = db["training_runs"]
        table.insert({"trigger": "scheduled", "status": "running", "pid": child.pid,
                      "started_at": "2025-01-01T03:00:00+00:00", "trainer": "llamacpp"})
        dead_id = table.last_pk
    alive_id = runs.start("manual", "llamacpp")  # this process: alive
    from app.context import Nocturne

    again = Nocturne(nocturne_home)  # every app start recovers
    try:
        assert TrainingRuns(again.store).get(dead_id)["status"] == "interrupted"
        assert TrainingRuns(again.store).get(alive_id)["status"] == "running"
    finally:
        again.close()
