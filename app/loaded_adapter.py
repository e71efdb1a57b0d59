"""Is the adapter a running app has loaded still the right one?

An open app keeps its engine while other things change the adapters under it: editing,
rejecting or deleting a memory taints the adapters that learned it, `adapters delete` removes
one, a learning run (another process) promotes a new one. A tainted or removed adapter must be
dropped at once; a newly promoted one is offered, never swapped in behind the user's back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ondevice.adapters import AdapterRegistry

GONE = ("tainted", "broken")  # statuses an adapter never loads with again


@dataclass
class LoadedAdapterCheck:
    """must_reload: the loaded adapter may no longer be used (reload now);
    ready: the active adapter's version when the engine has another one (offer it), else None."""

    must_reload: bool
    ready: str | None


def check_loaded_adapter(store, home, loaded: str | None, base_sha256: str) -> LoadedAdapterCheck:
    """Compare what the engine has loaded with the adapter registry (reads only).

    Args:
        store, home: the app's Store and data folder.
        loaded: the adapter version the engine has loaded, None for the base model.
        base_sha256: the loaded base model's hash (adapters of other bases are not offered).
    """
    registry = AdapterRegistry(store, home)
    info = registry.get(loaded) if loaded else None
    must_reload = loaded is not None and (info is None or info.status in GONE or not info.path.is_file())
    active = registry.active()
    ready = (active.version if active is not None and active.version != loaded
             and active.base_sha256 == base_sha256 else None)
    return LoadedAdapterCheck(must_reload, ready)
