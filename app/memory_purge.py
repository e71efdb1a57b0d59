"""Purge a deleted memory's text from what learning runs left behind: run records and files.

A run's report holds probe questions, expected answers and the adapter's answers per memory; its
log and progress name memories; a killed run leaves its work folder (the training set) and caches
may hold generated text. The report's JSON shape changes between versions, so the purge walks
whatever is stored: entries carrying the memory's id are dropped, and any other string that
contains the memory's text or its expected answer is replaced.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

from ondevice.process import pid_alive

REMOVED = "[removed: from a deleted memory]"
ID_KEYS = ("memory_id", "memory")  # the keys a report entry uses to say which memory it is about
ANSWER_KEYS = ("expected", "expected_answer", "value")  # the fact's value, once the entry is tied
MIN_NEEDLE_CHARS = 3  # shorter values ("4", "it") would redact unrelated text
SCANNED_FILE_MAX_BYTES = 64 * 1024 * 1024  # model copies in the cache are binary and huge
_DROP = object()


def _normal(text: str) -> str:
    return " ".join(text.lower().split())


def _tied(entry: dict, memory_id: int) -> bool:
    return any(entry.get(key) == memory_id for key in ID_KEYS)


def _answers_of(value, memory_id: int, found: set[str]) -> None:
    """Collect the expected answers of the entries tied to the memory (what a probe checks)."""
    if isinstance(value, dict):
        if _tied(value, memory_id):
            found.update(_normal(v) for k, v in value.items() if k in ANSWER_KEYS and isinstance(v, str))
        for item in value.values():
            _answers_of(item, memory_id, found)
    elif isinstance(value, list):
        for item in value:
            _answers_of(item, memory_id, found)


def _matcher(needles: set[str]) -> re.Pattern | None:
    kept = sorted((n for n in needles if len(n) >= MIN_NEEDLE_CHARS), key=len, reverse=True)
    if not kept:
        return None
    return re.compile(r"(?<!\w)(?:" + "|".join(re.escape(n) for n in kept) + r")(?!\w)")


def _scrub(value, memory_id: int, matcher: re.Pattern | None):
    if isinstance(value, dict):
        if _tied(value, memory_id):
            return _DROP
        out = {k: _scrub(v, memory_id, matcher) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not _DROP}
    if isinstance(value, list):
        return [v for v in (_scrub(item, memory_id, matcher) for item in value) if v is not _DROP]
    if isinstance(value, str) and matcher is not None and matcher.search(_normal(value)):
        return REMOVED
    return value


def _scrub_log(log: str, memory_id: int, matcher: re.Pattern | None) -> str:
    names_it = re.compile(rf"\bmemory {memory_id}\b")
    lines = [line for line in log.splitlines() if not names_it.search(line)]
    return "\n".join(REMOVED if matcher and matcher.search(_normal(line)) else line for line in lines)


def needles_for(store, memory_id: int, text: str) -> set[str]:
    """The memory's text (with and without its final full stop) and its expected answers."""
    found = {_normal(text), _normal(text).rstrip(".!?")}
    for row in store.query("SELECT metrics FROM training_runs WHERE metrics IS NOT NULL"):
        _answers_of(json.loads(row["metrics"]), memory_id, found)
    return found


def purge_run_records(store, memory_id: int, needles: set[str]) -> int:
    """Scrub training_runs (metrics, progress, log) and adapters.metrics. Returns rows changed."""
    matcher = _matcher(needles)
    changed = 0
    with store.transaction() as db:
        for row in db.execute("SELECT id, metrics, progress, log FROM training_runs").fetchall():
            run_id, metrics, progress, log = row
            update = {}
            for key, stored in (("metrics", metrics), ("progress", progress)):
                if stored:
                    cleaned = json.dumps(_scrub(json.loads(stored), memory_id, matcher), default=str)
                    if cleaned != stored:
                        update[key] = cleaned
            if log and (cleaned_log := _scrub_log(log, memory_id, matcher)) != log:
                update["log"] = cleaned_log
            if update:
                db["training_runs"].update(run_id, update)
                changed += 1
        for version, metrics in db.execute("SELECT version, metrics FROM adapters").fetchall():
            if metrics:
                cleaned = json.dumps(_scrub(json.loads(metrics), memory_id, matcher))
                if cleaned != metrics:
                    db["adapters"].update(version, {"metrics": cleaned})
                    changed += 1
    return changed


def purge_files(store, home: Path, needles: set[str]) -> list[Path]:
    """Delete what runs left under the data folder that may hold the memory.

    Work folders of runs that are not running (killed runs leave their training set there) go
    whole; a cache file that contains the memory's text goes too (caches are rebuilt next run).

    Returns:
        The files and folders removed.
    """
    home = Path(home)
    removed: list[Path] = []
    running = {str(r["id"]) for r in store.query("SELECT id, pid FROM training_runs WHERE status = 'running'")
               if pid_alive(r["pid"])}
    runs = home / "runs"
    if runs.is_dir():
        for entry in runs.iterdir():
            if entry.name not in running:
                shutil.rmtree(entry, ignore_errors=True) if entry.is_dir() else entry.unlink(missing_ok=True)
                removed.append(entry)
    matcher = _matcher(needles)
    cache = home / "cache"
    if matcher is None or not cache.is_dir():
        return removed
    for path in cache.rglob("*"):
        if path.is_file() and path.stat().st_size <= SCANNED_FILE_MAX_BYTES:
            if matcher.search(_normal(path.read_bytes().decode("utf-8", "ignore"))):
                path.unlink(missing_ok=True)
                removed.append(path)
    return removed
