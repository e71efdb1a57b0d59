"""The adapter registry: versioned, immutable LoRA adapters with manifests, promotion and rollback.

Each version lives in home/adapters/<version>/ (adapter.gguf + manifest.json) and has a row in
the `adapters` table; `adapter_memories` records which memory (and which text of it) trained it.
The row's path is relative to the data folder, so a copied or moved folder uses its own files;
nothing here deletes or writes outside home/adapters (see `version_dir`).
A version is written to a hidden temp folder, fsynced and renamed into place before its row is
committed, so a crash at any point leaves the previous adapter active and loadable.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ondevice.models import file_sha256

ADAPTERS_DIR = "adapters"
ADAPTER_FILE = "adapter.gguf"
MANIFEST_FILE = "manifest.json"
CLEAN = ("active", "retired")


class AdapterRegistryError(Exception):
    """A registry action the user asked for cannot be done; the message says why and what to do."""


@dataclass(frozen=True)
class AdapterInfo:
    version: str
    path: Path  # the adapter.gguf
    base_sha256: str
    trainer: str
    status: str
    created_at: str
    metrics: dict
    args: dict


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def stored_path(version: str) -> str:
    """The adapters.path value of `version`: relative to the data folder, `/`-separated."""
    return f"{ADAPTERS_DIR}/{version}/{ADAPTER_FILE}"


def version_dir(home: Path, version: str) -> Path | None:
    """home/adapters/<version>, or None when that name would lead anywhere else.

    Every delete or write of adapter files goes through this: a version from a damaged or
    hostile database ("..", a symlink out) must never reach a file outside the data folder.
    """
    root = (Path(home) / ADAPTERS_DIR).resolve()
    folder = Path(home) / ADAPTERS_DIR / version
    if root.parent != Path(home).resolve():  # the adapters folder itself links elsewhere
        return None
    if not version or folder.is_symlink() or folder.resolve().parent != root:
        return None
    return folder


def resolve_adapter_path(home: Path, path: str) -> Path:
    """The adapter file a stored path means: relative paths are inside `home`."""
    stored = Path(path or "")
    return stored if stored.is_absolute() else Path(home) / stored


class AdapterRegistry:
    """Args: store (app.store.Store), home (the data folder)."""

    def __init__(self, store, home: Path):
        self.store = store
        self.home = Path(home)
        self.root = self.home / ADAPTERS_DIR
        self.notice: str | None = None  # why loadable() fell back (one sentence), if it did

    # -- reading ------------------------------------------------------------------------------

    def _info(self, row: dict) -> AdapterInfo:
        return AdapterInfo(
            version=row["version"], path=resolve_adapter_path(self.home, row["path"]), base_sha256=row["base_sha256"],
            trainer=row["trainer"], status=row["status"], created_at=row["created_at"],
            metrics=json.loads(row["metrics"] or "{}"), args=json.loads(row["args"] or "{}"),
        )

    def list(self) -> list[AdapterInfo]:
        """Every recorded adapter, newest first."""
        rows = self.store.query("SELECT * FROM adapters ORDER BY rowid DESC")
        return [self._info(row) for row in rows]

    def get(self, version: str) -> AdapterInfo | None:
        row = self.store.query_one("SELECT * FROM adapters WHERE version = ?", (version,))
        return self._info(row) if row else None

    def active(self) -> AdapterInfo | None:
        row = self.store.query_one("SELECT * FROM adapters WHERE status = 'active'")
        return self._info(row) if row else None

    def memory_ids(self, version: str) -> list[int]:
        rows = self.store.query(
            "SELECT memory_id FROM adapter_memories WHERE adapter_version = ? ORDER BY memory_id", (version,)
        )
        return [row["memory_id"] for row in rows]

    def recalled_memory_ids(self) -> set[int]:
        """Memories the active adapter verifiably recalls: they no longer need prompt space."""
        rows = self.store.query(
            "SELECT am.memory_id FROM adapter_memories am JOIN adapters a "
            "ON a.version = am.adapter_version WHERE a.status = 'active' AND am.recalled = 1"
        )
        return {row["memory_id"] for row in rows}

    def _taint_reason(self, version: str) -> str | None:
        """Why `version` must never load again: a memory it learned was deleted or edited."""
        rows = self.store.query(
            "SELECT am.memory_id, am.content_sha256, m.text FROM adapter_memories am "
            "LEFT JOIN memories m ON m.id = am.memory_id AND m.status = 'approved' "
            "WHERE am.adapter_version = ?",
            (version,),
        )
        for row in rows:
            if row["text"] is None:
                return f"memory {row['memory_id']} it learned was deleted"
            if _sha256_text(row["text"]) != row["content_sha256"]:
                return f"memory {row['memory_id']} it learned was edited"
        return None

    def _usable(self, info: AdapterInfo, base_sha256: str) -> str | None:
        """None when `info` may load on this base model, else the reason it may not."""
        if info.base_sha256 != base_sha256:
            return "it was trained on a different base model"
        if version_dir(self.home, info.version) is None or info.path.parent != self.root / info.version:
            return "its file is not in this data folder"
        if not info.path.is_file():
            return "its file is missing"
        return self._changed_reason(info) or self._taint_reason(info.version)

    def _changed_reason(self, info: AdapterInfo) -> str | None:
        """Why the file is not the one promoted (sha256 in the manifest), or None.

        Adapters promoted before the manifest carried the hash have nothing to compare.
        """
        try:
            manifest = json.loads((info.path.parent / MANIFEST_FILE).read_text())
        except (OSError, ValueError):
            return "its manifest is missing or unreadable"
        expected = manifest.get("adapter_sha256") if isinstance(manifest, dict) else None
        if expected and file_sha256(info.path) != expected:
            return "its file changed since it was promoted (sha256 mismatch)"
        return None

    def loadable(self, base_sha256: str) -> AdapterInfo | None:
        """The adapter the app should load for this base model, or None for the base model.

        An active adapter that is tainted is marked so; an active one whose file is gone is
        marked broken; the newest clean version for this base then becomes active. `notice`
        says in one sentence why the app fell back, if it did.
        """
        self.notice = None
        current = self.active()
        if current is not None:
            reason = self._usable(current, base_sha256)
            if reason is None:
                return current
            if current.base_sha256 == base_sha256:  # another base's adapter is fine, just not here
                status = "tainted" if "memory" in reason else "broken"
                self._set_status(current.version, status, reason)
            self.notice = f"The adapter {current.version} is not used because {reason}."
        for info in self.list():
            if info.status == "retired" and self._usable(info, base_sha256) is None:
                self._activate(info.version)
                if self.notice:
                    self.notice = self.notice[:-1] + f"; using the earlier adapter {info.version}."
                return self.get(info.version)
        return None

    # -- changing -----------------------------------------------------------------------------

    def _set_status(self, version: str, status: str, reason: str | None = None) -> None:
        with self.store.transaction() as db:
            row = db["adapters"].get(version)
            metrics = json.loads(row["metrics"] or "{}")
            if reason:
                metrics["status_reason"] = reason
            db["adapters"].update(version, {"status": status, "metrics": json.dumps(metrics)})

    def _activate(self, version: str) -> None:
        with self.store.transaction() as db:
            db.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
            db.execute("UPDATE adapters SET status = 'active' WHERE version = ?", [version])

    def mark_broken(self, version: str, reason: str) -> None:
        """The engine could not load `version`: never try it again (the file is kept for a look)."""
        if self.get(version) is not None:
            self._set_status(version, "broken", reason)

    def new_version(self) -> str:
        """A sortable, unique version label: UTC time to the second, suffixed if taken."""
        base = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
        version, n = base, 1
        while self.get(version) is not None or (self.root / version).exists():
            n += 1
            version = f"{base}-{n}"
        return version

    def promote(
        self,
        adapter_file: Path,
        base_sha256: str,
        trainer: str,
        args: dict,
        metrics: dict,
        memory_hashes: dict[int, str],
        recalled: set[int],
        run_id: int | None = None,
    ) -> AdapterInfo:
        """Install a gate-approved adapter as the new active version, atomically.

        Args:
            adapter_file: the trained adapter.gguf (copied; the caller's file is untouched).
            base_sha256: the base model it was trained on.
            trainer, args, metrics: recorded in the manifest and the table.
            memory_hashes: memory id -> sha256 of the text it was trained on.
            recalled: memory ids the adapter recalled on all their probes.
            run_id: the training run that produced it.

        Returns:
            The new active adapter.
        """
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self._remove_orphans()
        version = self.new_version()
        final = version_dir(self.home, version)
        if final is None:
            raise AdapterRegistryError(
                f"{self.root} leads outside the data folder: make it a plain folder to keep adapters.")
        partial = self.root / f".{version}.partial"
        created = datetime.now(timezone.utc).isoformat(timespec="seconds")
        manifest = {
            "version": version, "base_sha256": base_sha256, "trainer": trainer, "args": args,
            "metrics": metrics, "created_at": created, "run_id": run_id,
            "memories": [{"id": m, "content_sha256": h} for m, h in sorted(memory_hashes.items())],
        }
        try:
            partial.mkdir(mode=0o700)
            shutil.copyfile(adapter_file, partial / ADAPTER_FILE)
            manifest["adapter_sha256"] = file_sha256(partial / ADAPTER_FILE)
            (partial / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2))
            for name in (ADAPTER_FILE, MANIFEST_FILE):
                with open(partial / name, "rb+") as handle:
                    os.fsync(handle.fileno())
            _fsync_dir(partial)
            os.rename(partial, final)
            _fsync_dir(self.root)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        # Files first, row last: a crash before this commit leaves an orphan folder (removed
        # next time), never a row pointing at a half-written file.
        with self.store.transaction() as db:
            db.execute("UPDATE adapters SET status = 'retired' WHERE status = 'active'")
            db["adapters"].insert({
                "version": version, "path": stored_path(version), "base_sha256": base_sha256,
                "trainer": trainer, "status": "active", "args": json.dumps(args),
                "metrics": json.dumps(metrics), "created_at": created, "run_id": run_id,
            })
            db["adapter_memories"].insert_all([
                {"adapter_version": version, "memory_id": m, "content_sha256": h, "recalled": int(m in recalled)}
                for m, h in memory_hashes.items()
            ])
        return self.get(version)

    def use(self, version: str, base_sha256: str | None = None) -> AdapterInfo:
        """Roll back (or forward) to `version`; the app loads it at its next start.

        Raises:
            AdapterRegistryError: unknown version, or one that is tainted, broken, missing or
                trained on another base model.
        """
        info = self.get(version)
        if info is None:
            raise AdapterRegistryError(f"There is no adapter {version}: see `nocturne adapters list`.")
        if info.status not in CLEAN:
            raise AdapterRegistryError(
                f"The adapter {version} is {info.status} and cannot be used: choose a clean one "
                "from `nocturne adapters list`.")
        reason = self._usable(info, base_sha256 or info.base_sha256)
        if reason:
            raise AdapterRegistryError(f"The adapter {version} cannot be used because {reason}: choose another.")
        self._activate(version)
        return self.get(version)

    def delete(self, version: str) -> None:
        """Delete a version's files and rows; deleting the active one falls back to the newest clean one.

        Raises:
            AdapterRegistryError: unknown version.
        """
        info = self.get(version)
        if info is None:
            raise AdapterRegistryError(f"There is no adapter {version}: see `nocturne adapters list`.")
        with self.store.transaction() as db:
            db.execute("DELETE FROM adapter_memories WHERE adapter_version = ?", [version])
            db.execute("DELETE FROM adapters WHERE version = ?", [version])
        folder = version_dir(self.home, version)
        if folder is not None:
            shutil.rmtree(folder, ignore_errors=True)
        if info.status == "active":
            for other in self.list():
                if other.status == "retired" and self._usable(other, other.base_sha256) is None:
                    self._activate(other.version)
                    break

    def prune(self, keep: int) -> list[str]:
        """Keep the newest `keep` clean versions; delete older clean ones. Returns deleted versions."""
        clean = [info for info in self.list() if info.status in CLEAN]
        doomed = [info.version for info in clean[keep:] if info.status != "active"]
        for version in doomed:
            self.delete(version)
        return doomed

    def _remove_orphans(self) -> None:
        """Folders with no row (a crash between rename and commit) and leftover temp folders."""
        if not self.root.is_dir():
            return
        known = {row["version"] for row in self.store.query("SELECT version FROM adapters")}
        for entry in self.root.iterdir():
            if entry.name.startswith(".") or entry.name not in known:
                folder = version_dir(self.home, entry.name)
                if folder is not None and folder.is_dir():
                    shutil.rmtree(folder, ignore_errors=True)
