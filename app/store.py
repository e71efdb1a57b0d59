"""The private SQLite store: one file in the data dir, WAL, secure_delete, numbered migrations.

All access goes through `Store`, which is safe to share between threads (one connection behind
a lock: the UI's workers and the chat service log from other threads).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import sqlite_utils

from app.errors import NotFoundError, StoreError
from app.migrations import MIGRATIONS
from app.paths import DB_NAME, ensure_private_dir, make_tree_private

BUSY_TIMEOUT_S = 5.0
MAX_ID = 2**63 - 1  # SQLite's largest integer: no row has a larger id


def now_iso() -> str:
    """UTC timestamp with seconds, the format every table uses."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _restore_hint(path: Path) -> str:
    """How to recover a damaged database: from a backup copy only if one exists."""
    copies = sorted((path.parent / "backups").glob("*.db"))
    if copies:
        return f"replace it with the copy {copies[-1]}, or move it away to start fresh."
    return "move it away to start fresh (there is no backup copy)."


def _friendly(exc: sqlite3.Error, path: Path) -> StoreError:
    """Turn SQLite's terse errors into one sentence that names the problem and the fix."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StoreError(
            f"The database {path} is locked by another program (another Nocturne?): close it "
            "and try again."
        )
    if "full" in text:
        return StoreError(
            f"The disk holding {path.parent} is full: free some space and try again "
            "(nothing was lost)."
        )
    if "readonly" in text or "read-only" in text:
        return StoreError(
            f"The database {path} is read-only: make it writable or choose another data "
            "folder with --home."
        )
    if "not a database" in text or "malformed" in text:
        return StoreError(f"The database {path} is damaged: {_restore_hint(path)}")
    if "unable to open" in text:
        return StoreError(
            f"Cannot open the database {path}: check that the data folder exists and is "
            "writable, or choose another with --home."
        )
    return StoreError(f"Database error in {path}: {exc}.")


def _too_large() -> NotFoundError:
    """A number past SQLite's integers (an id of 2^63 or more) can name nothing stored."""
    return NotFoundError(f"There is no such item: ids are whole numbers up to {MAX_ID}.")


class Store:
    """Owns the connection; every write runs in `transaction()` so nothing is half-written."""

    def __init__(self, home: Path):
        self.home = ensure_private_dir(Path(home))
        make_tree_private(self.home)
        self.path = self.home / DB_NAME
        self._lock = threading.RLock()
        self.purge_pending = False  # deleted text waits for another reader to close
        try:
            if not self.path.exists():
                # Create it owner-only before SQLite does, so it is never readable by others.
                os.close(os.open(self.path, os.O_CREAT | os.O_WRONLY, 0o600))
            os.chmod(self.path, 0o600)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_S, check_same_thread=False, isolation_level=None
            )
            self.db = sqlite_utils.Database(conn)
            self._configure()
            self._migrate()
        except sqlite3.Error as exc:
            raise _friendly(exc, self.path) from exc
        except PermissionError as exc:
            raise StoreError(
                f"Cannot open the database {self.path} ({exc.strerror}): make the data folder "
                "writable or choose another with --home."
            ) from exc

    @property
    def conn(self) -> sqlite3.Connection:
        return self.db.conn

    def _configure(self) -> None:
        self.conn.execute("PRAGMA journal_mode=WAL")
        # Freed pages are overwritten with zeros: deleted text leaves no trace in the file.
        self.conn.execute("PRAGMA secure_delete=ON")
        self.conn.execute("PRAGMA foreign_keys=ON")
        self.conn.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT_S * 1000)}")

    # -- transactions -------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite_utils.Database]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error; SQLite errors become StoreError."""
        with self._lock:
            try:
                self.conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise _friendly(exc, self.path) from exc
            try:
                yield self.db
                self.conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise _friendly(exc, self.path) from exc
                if isinstance(exc, OverflowError):
                    raise _too_large() from exc
                raise

    def query(self, sql: str, params: tuple | dict = ()) -> list[dict]:
        """Read rows as dicts."""
        with self._lock:
            try:
                return list(self.db.query(sql, params))
            except sqlite3.Error as exc:
                raise _friendly(exc, self.path) from exc
            except OverflowError as exc:
                raise _too_large() from exc

    def query_one(self, sql: str, params: tuple | dict = ()) -> dict | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    # -- migrations ---------------------------------------------------------------------------

    def schema_version(self) -> int:
        if not self.db["_migrations"].exists():
            return 0
        row = self.conn.execute("SELECT max(id) FROM _migrations").fetchone()
        return row[0] or 0

    def _migrate(self) -> None:
        current = self.schema_version()
        pending = [(number, fn) for number, fn in MIGRATIONS if number > current]
        if not pending:
            return
        if current > 0:
            self.backup(f"before-v{pending[-1][0]}")
        with self.transaction() as db:
            if not db["_migrations"].exists():
                db["_migrations"].create({"id": int, "name": str, "applied_at": str}, pk="id")
            for number, fn in pending:
                fn(db)
                db["_migrations"].insert({"id": number, "name": fn.__name__, "applied_at": now_iso()})

    def backup(self, label: str) -> Path:
        """Copy the database (consistently, through SQLite's backup API) into backups/."""
        folder = ensure_private_dir(self.home / "backups")
        target = folder / f"nocturne-{time.strftime('%Y%m%d-%H%M%S')}-{label}.db"
        os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
        with self._lock:
            dest = sqlite3.connect(target)
            try:
                self.conn.backup(dest)
            finally:
                dest.close()
        return target

    # -- privacy ------------------------------------------------------------------------------

    def purge_freed_text(self) -> bool:
        """Make deleted text unrecoverable from the files on disk; False if it must wait.

        FTS5 keeps deleted terms in old index segments until they merge: `optimize` merges
        them (secure_delete zeroes the freed pages), and a TRUNCATE checkpoint empties the WAL.
        Pre-migration copies would still hold the deleted text, so they go too.

        Returns:
            True when the text is gone from the files now; False (and `purge_pending` set)
            when another open connection still reads the old data, so it leaves the files
            when that connection closes.
        """
        with self._lock:
            try:
                for table in ("messages_fts", "memories_fts"):
                    if self.db[table].exists():
                        self.conn.execute(f"INSERT INTO {table}({table}) VALUES('optimize')")
                busy = self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            except sqlite3.Error as exc:
                raise _friendly(exc, self.path) from exc
        # Another connection reading an older snapshot keeps the old pages in the file until
        # it ends; the checkpoint at its close (or ours) then overwrites them.
        self.purge_pending = bool(busy)
        for copy in (self.home / "backups").glob("*.db"):
            copy.unlink(missing_ok=True)
        return not self.purge_pending

    def close(self) -> None:
        with self._lock:
            with contextlib.suppress(sqlite3.Error):
                self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.conn.close()


def delete_all_data(home: Path) -> None:
    """Remove the whole data folder (used by 'delete all data'), after the store is closed."""
    shutil.rmtree(home, ignore_errors=False)
