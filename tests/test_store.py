"""The private store: permissions, pragmas, migrations with a backup, friendly errors."""

from __future__ import annotations

import sqlite3
import stat

import pytest

from app.errors import DataDirError, InputError, StoreError
from app.migrations import MIGRATIONS
from app.paths import data_dir, ensure_private_dir
from app.settings import Settings
from app.store import Store


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_data_dir_comes_from_env_and_is_owner_only(nocturne_home):
    assert data_dir() == nocturne_home.resolve()
    store = Store(data_dir())
    assert mode(nocturne_home) == 0o700
    assert mode(store.path) == 0o600
    store.close()


def test_pragmas_and_schema(nocturne_home):
    store = Store(nocturne_home)
    conn = store.conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA secure_delete").fetchone()[0] == 1
    assert store.schema_version() == MIGRATIONS[-1][0]
    tables = set(store.db.table_names())
    for name in ["conversations", "messages", "messages_fts", "settings", "memories",
                 "adapters", "training_runs"]:
        assert name in tables
    store.close()


def test_pending_migrations_copy_the_database_first(nocturne_home):
    # Build a database at schema version 1 holding a user's conversation.
    store = Store.__new__(Store)
    ensure_private_dir(nocturne_home)
    conn = sqlite3.connect(nocturne_home / "nocturne.db", isolation_level=None)
    import sqlite_utils

    db = sqlite_utils.Database(conn)
    db["_migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
    MIGRATIONS[0][1](db)
    db["_migrations"].insert({"id": 1, "name": "m001", "applied_at": "x"})
    db["conversations"].insert({"title": "precious", "created_at": "t", "updated_at": "t"})
    conn.close()

    store = Store(nocturne_home)
    assert store.schema_version() == MIGRATIONS[-1][0]
    assert store.query_one("SELECT title FROM conversations")["title"] == "precious"
    backups = list((nocturne_home / "backups").glob("*.db"))
    assert len(backups) == 1
    copy = sqlite3.connect(backups[0])
    assert copy.execute("SELECT title FROM conversations").fetchone()[0] == "precious"
    assert copy.execute("SELECT max(id) FROM _migrations").fetchone()[0] == 1
    copy.close()
    store.close()


def test_a_failed_write_leaves_nothing_half_written(nocturne_home):
    store = Store(nocturne_home)
    with pytest.raises(RuntimeError):
        with store.transaction() as db:
            db["conversations"].insert({"title": "a", "created_at": "t", "updated_at": "t"})
            raise RuntimeError("crash in the middle")
    assert store.query("SELECT * FROM conversations") == []
    store.close()


def test_locked_database_gives_a_clear_error(nocturne_home, monkeypatch):
    monkeypatch.setattr("app.store.BUSY_TIMEOUT_S", 0.2)
    store = Store(nocturne_home)
    other = sqlite3.connect(store.path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError, match="locked by another program"):
            with store.transaction() as db:
                db["settings"].insert({"key": "k", "value": "1"})
    finally:
        other.execute("ROLLBACK")
        other.close()
    store.close()


def test_read_only_data_dir_is_refused_clearly(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o500)
    try:
        import os

        if os.geteuid() == 0:
            pytest.skip("root can write anywhere; the read-only check cannot be shown as root")
        with pytest.raises(DataDirError, match="read-only"):
            ensure_private_dir(folder)
    finally:
        folder.chmod(0o700)


def test_unwritable_data_dir_path_is_refused_clearly(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(DataDirError, match="Cannot create the data folder"):
        ensure_private_dir(blocker / "home")


def test_damaged_database_is_named(nocturne_home):
    ensure_private_dir(nocturne_home)
    (nocturne_home / "nocturne.db").write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StoreError, match="damaged"):
        Store(nocturne_home)


def test_settings_validate_and_persist(nocturne_home):
    store = Store(nocturne_home)
    settings = Settings(store)
    assert settings.get("learning_time") == "03:00"
    assert settings.set("learning_time", "4:30") == "04:30"
    with pytest.raises(InputError, match="HH:MM"):
        settings.set("learning_time", "25:00")
    with pytest.raises(InputError, match="no setting"):
        settings.get("nope")
    store.close()
    assert Settings(Store(nocturne_home)).get("learning_time") == "04:30"


def test_read_only_database_is_reported_clearly(nocturne_home):
    store = Store(nocturne_home)
    store.conn.execute("PRAGMA query_only=ON")  # SQLite now refuses writes as read-only
    with pytest.raises(StoreError, match="read-only"):
        Settings(store).set("learning_time", "05:00")
    store.conn.execute("PRAGMA query_only=OFF")
    assert Settings(store).get("learning_time") == "03:00"
    store.close()
