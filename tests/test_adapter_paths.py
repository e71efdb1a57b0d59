"""Adapter files belong to their data folder: copies and moves keep working, nothing outside is touched."""

from __future__ import annotations

import json
import shutil
import sqlite3

import sqlite_utils

from app.context import Nocturne
from app.memory_forget import remove_tainted_files
from app.migrations import MIGRATIONS
from app.store import Store
from ondevice.adapters import AdapterRegistry, version_dir
from ondevice.training.dataset import content_sha256
from tests.learning_helpers import write_small_lora


def _home_with_adapter(app, tmp_path) -> tuple[int, str]:
    """An approved memory and an active adapter trained on it, promoted the real way."""
    memory_id = app.memories().add("I live in Lyon")
    registry = AdapterRegistry(app.store, app.home)
    info = registry.promote(write_small_lora(tmp_path / "trained.gguf"), app.model().sha256, "llamacpp",
                            {"rank": 4}, {}, {memory_id: content_sha256("I live in Lyon")}, recalled=set())
    return memory_id, info.version


def test_deleting_a_memory_in_a_copied_folder_leaves_the_originals_adapter(app, tmp_path):
    memory_id, version = _home_with_adapter(app, tmp_path)
    original = app.home / "adapters" / version / "adapter.gguf"
    app.close()
    copy_home = tmp_path / "copy"
    shutil.copytree(app.home, copy_home)
    copy = Nocturne(copy_home)
    try:
        copy.memories().delete(memory_id)
    finally:
        copy.close()
    assert original.is_file(), "deleting in the copy removed the original's adapter"
    assert not (copy_home / "adapters" / version).exists(), "the copy's own adapter must go"


def test_a_moved_folder_still_loads_its_adapter(app, tmp_path):
    _, version = _home_with_adapter(app, tmp_path)
    app.close()
    moved_home = tmp_path / "moved"
    shutil.move(str(app.home), moved_home)
    moved = Nocturne(moved_home)
    try:
        engine = moved.load_engine()
        assert engine.adapter_version == version and moved.notice is None
        assert engine.adapter_path == moved_home / "adapters" / version / "adapter.gguf"
        assert AdapterRegistry(moved.store, moved_home).get(version).status == "active"
    finally:
        moved.close()


def _schema_v3_home(home, rows: list[tuple[str, str]]) -> None:
    """A data folder as release v3 left it: adapter rows with absolute paths."""
    home.mkdir(mode=0o700)
    db = sqlite_utils.Database(sqlite3.connect(home / "nocturne.db"))
    db["_migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
    for number, fn in MIGRATIONS[:3]:
        fn(db)
        db["_migrations"].insert({"id": number, "name": fn.__name__, "applied_at": "2026-01-01"})
    for version, path in rows:
        db["adapters"].insert({"version": version, "path": path, "base_sha256": "0" * 64,
                               "trainer": "llamacpp", "status": "retired"})
    db.conn.commit()
    db.conn.close()


def test_migration_makes_old_absolute_paths_relative_and_keeps_a_copy(tmp_path):
    home = tmp_path / "home"
    _schema_v3_home(home, [("20260101-000000", "/old/place/adapters/20260101-000000/adapter.gguf"),
                           ("odd", "/somewhere/else.gguf")])
    store = Store(home)
    try:
        paths = {r["version"]: r["path"] for r in store.query("SELECT version, path FROM adapters")}
    finally:
        store.close()
    assert paths == {"20260101-000000": "adapters/20260101-000000/adapter.gguf", "odd": "/somewhere/else.gguf"}
    assert list((home / "backups").glob("*before-v*.db")), "the database is copied before migrating"


def test_a_path_outside_the_data_folder_is_never_loaded(app, tmp_path):
    _, version = _home_with_adapter(app, tmp_path)
    outside = tmp_path / "outside.gguf"
    shutil.copyfile(app.home / "adapters" / version / "adapter.gguf", outside)
    with app.store.transaction() as db:
        db.execute("UPDATE adapters SET path = ? WHERE version = ?", [str(outside), version])
    registry = AdapterRegistry(app.store, app.home)
    assert registry.loadable(app.model().sha256) is None
    assert "not in this data folder" in registry.notice


def test_hostile_versions_never_reach_files_outside_the_data_folder(app, tmp_path):
    victim_dir = tmp_path / "victim"
    victim_dir.mkdir()
    (victim_dir / "adapter.gguf").write_bytes(b"precious")
    (app.home / "adapters").mkdir()
    (app.home / "adapters" / "linked").symlink_to(victim_dir)
    for version in ("../../victim", "linked", ""):
        assert version_dir(app.home, version) is None
    with app.store.transaction() as db:
        for version in ("../../victim", "linked"):
            db["adapters"].insert({"version": version, "path": str(victim_dir / "adapter.gguf"),
                                   "base_sha256": "0" * 64, "trainer": "llamacpp", "status": "tainted"})
    assert remove_tainted_files(app.store, app.home) == []
    registry = AdapterRegistry(app.store, app.home)
    registry.delete("../../victim")
    registry.delete("linked")
    assert (victim_dir / "adapter.gguf").read_bytes() == b"precious"


def test_an_adapter_file_changed_after_promotion_is_not_loaded(app, tmp_path):
    _, version = _home_with_adapter(app, tmp_path)
    folder = app.home / "adapters" / version
    manifest = json.loads((folder / "manifest.json").read_text())
    assert len(manifest["adapter_sha256"]) == 64
    write_small_lora(folder / "adapter.gguf", seed=1)  # a valid adapter, but not the promoted one
    registry = AdapterRegistry(app.store, app.home)
    assert registry.loadable(app.model().sha256) is None
    assert "sha256" in registry.notice
    assert registry.get(version).status == "broken"


def test_a_changed_adapter_falls_back_to_the_earlier_one_and_says_so(app, tmp_path):
    _, first = _home_with_adapter(app, tmp_path)
    registry = AdapterRegistry(app.store, app.home)
    memory_id = app.memories().add("I like jazz")
    second = registry.promote(write_small_lora(tmp_path / "second.gguf", seed=2), app.model().sha256, "llamacpp",
                              {}, {}, {memory_id: content_sha256("I like jazz")}, recalled=set()).version
    (app.home / "adapters" / second / "adapter.gguf").write_bytes(b"GGUF tampered")
    engine = app.load_engine()
    assert engine.adapter_version == first
    assert f"The adapter {second} is not used because its file changed" in app.notice
    assert f"using the earlier adapter {first}" in app.notice
