"""Thin adapters from the UI to services that other parts of the app provide.

The learning and scheduler services are separate modules; when one is missing (a build
without learning) the views still show the store tables and disable what cannot work.
Nothing here decides anything: it only picks which app/ call answers.
"""

from __future__ import annotations

import json

from app.errors import NocturneError
from app.memory_review import MemoryFilter, conversations_with_memories
from app.loaded_adapter import LoadedAdapterCheck, check_loaded_adapter
from app.run_progress import ProgressEvent
from app.run_report import RunReport
from app.runs import TrainingRuns


def memory_service(app):
    """The app's MemoryService (app.memories).

    Args:
        app: the Nocturne instance.
    Returns:
        a MemoryService.
    """
    return app.memories()


def list_memories(app, chosen: MemoryFilter) -> list[dict]:
    """Memories for the table, newest first, as the filter picks them.

    Args:
        app: the Nocturne instance.
        chosen: status, source, kind, conversation and search words (None: any).
    Returns:
        dicts with id, text, kind, status, source_conversation_id, conversation_source, learned, ...
    """
    return memory_service(app).list(chosen.status, chosen.query or None, source=chosen.source,
                                    kind=chosen.kind, conversation_id=chosen.conversation_id)


def memory_conversations(app) -> list[dict]:
    """Conversations some memory came from (for the conversation filter), newest first."""
    return conversations_with_memories(app.store)


def run_reports(app, limit: int = 50) -> list[RunReport]:
    """Reports of recent learning runs, newest first (memory texts filled in).

    Args:
        app: the Nocturne instance.
        limit: at most this many runs.
    """
    return TrainingRuns(app.store).reports(limit)


def current_progress(app) -> ProgressEvent | None:
    """The progress of the learning run going on now (in any process), or None."""
    return TrainingRuns(app.store).current_progress()


def loaded_adapter_check(app, loaded: dict) -> LoadedAdapterCheck:
    """Whether the engine's adapter must be dropped, or a newer one can be offered.

    Args:
        app: the Nocturne instance.
        loaded: the model queue's `loaded` info ({"adapter", "base_sha256", ...}).
    """
    return check_loaded_adapter(app.store, app.home, loaded.get("adapter"), loaded.get("base_sha256"))


def adapters(app) -> list[dict]:
    """Adapter versions, newest first, with metrics decoded.

    Args:
        app: the Nocturne instance.
    Returns:
        dicts with version, status, trainer, created_at, metrics (dict), ...
    """
    try:
        from ondevice.adapters import AdapterRegistry

        rows = [_as_dict(a) for a in AdapterRegistry(app.store, app.home).list()]
    except ImportError:
        rows = app.store.query("SELECT * FROM adapters ORDER BY created_at DESC")
    return [_decoded(row, "metrics", "args") for row in rows]


def use_adapter(app, version: str) -> None:
    """Make `version` the active adapter (rollback); the engine reloads on next use.

    Args:
        app: the Nocturne instance.
        version: an adapter version from `adapters()`.
    Raises:
        NocturneError: when this build cannot switch adapters.
    """
    try:
        from ondevice.adapters import AdapterRegistry
    except ImportError as exc:
        raise NocturneError("This build has no adapter registry: install the learning part of "
                            "Nocturne to switch adapter versions.") from exc
    try:
        from ondevice.adapters import AdapterRegistryError
    except ImportError:
        AdapterRegistryError = NocturneError
    try:
        AdapterRegistry(app.store, app.home).use(version, app.model().sha256)
    except AdapterRegistryError as exc:
        raise NocturneError(str(exc)) from exc


def nightly_scheduler(app):
    """The nightly scheduler for this app, or None when this build has none (not started).

    Args:
        app: the Nocturne instance.
    Returns:
        a scheduler.nightly.NightlyScheduler, or None.
    """
    try:
        from scheduler.nightly import NightlyScheduler
    except ImportError:
        return None
    return NightlyScheduler(app)


def _as_dict(item) -> dict:
    if isinstance(item, dict):
        return dict(item)
    if hasattr(item, "__dataclass_fields__"):
        from dataclasses import asdict

        return asdict(item)
    return dict(vars(item))


def _decoded(row: dict, *fields: str) -> dict:
    row = dict(row)
    for name in fields:
        value = row.get(name)
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                value = {}
        row[name] = value if isinstance(value, dict) else {}
    return row
