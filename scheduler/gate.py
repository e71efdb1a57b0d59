"""May the sleep-time job start right now? Learning on, the user idle, the machine on mains power.

Asked by the in-app scheduler before it launches a run, and by `nocturne learn --scheduled`
itself (the OS agent starts it without the app), so both paths obey the same rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Callable

import psutil

# Returns psutil's battery reading (None where the OS does not tell, e.g. desktops, most VMs).
BatteryProbe = Callable[[], object]


def local_now() -> datetime:
    """The current local time, timezone-aware."""
    return datetime.now().astimezone()


def aware(moment: datetime) -> datetime:
    """`moment` with a timezone: a naive datetime is taken as local time."""
    return moment if moment.tzinfo is not None else moment.astimezone()


def parse_stamp(text: str | None) -> datetime | None:
    """A stored ISO timestamp (UTC in every table) as an aware datetime, or None."""
    if not text:
        return None
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def last_chat_time(app) -> datetime | None:
    """When the user last chatted (newest logged message), or None if never."""
    row = app.store.query_one("SELECT max(created_at) AS last FROM messages")
    return parse_stamp(row["last"] if row else None)


def on_mains_power(battery_probe: BatteryProbe = psutil.sensors_battery) -> tuple[bool, str]:
    """Whether the machine runs on mains power, as far as the OS tells.

    Args:
        battery_probe: returns psutil's battery reading (injectable for tests on machines
            without a battery).

    Returns:
        (True, "") on mains power or when the OS reports no battery; (False, reason) on battery.
    """
    try:
        battery = battery_probe()
    except (OSError, NotImplementedError, AttributeError):
        battery = None  # the OS does not tell: do not block learning on it
    if battery is None or getattr(battery, "power_plugged", None) is not False:
        return True, ""
    percent = getattr(battery, "percent", None)
    level = f" ({percent:.0f}%)" if isinstance(percent, (int, float)) else ""
    return False, f"The computer runs on battery{level}: learning waits until it is plugged in."


def should_run_now(
    app, now: datetime | None = None, battery_probe: BatteryProbe = psutil.sensors_battery
) -> tuple[bool, str]:
    """Decide whether a scheduled learning run may start now.

    Args:
        app: the Nocturne instance (its settings and chat log are read).
        now: the moment to judge (default: now); naive means local time.
        battery_probe: see `on_mains_power`.

    Returns:
        (True, "ok") when learning is on, the user has not chatted for `idle_minutes` and the
        machine is on mains power; otherwise (False, one sentence saying why and what to do).
    """
    now = aware(now or local_now())
    if not app.settings.get("learning_enabled"):
        return False, "Nightly learning is off: turn it on with `nocturne learning on`."
    idle_minutes = app.settings.get("idle_minutes")
    last_chat = last_chat_time(app)
    if last_chat is not None and now - last_chat < timedelta(minutes=idle_minutes):
        ago = int((now - last_chat).total_seconds() // 60)
        return False, (
            f"You chatted {ago} minutes ago: learning waits until you have been idle for "
            f"{idle_minutes} minutes (setting `idle_minutes`)."
        )
    plugged, reason = on_mains_power(battery_probe)
    if not plugged:
        return False, reason
    return True, "ok"
