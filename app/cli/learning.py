"""`nocturne learning`: nightly learning on or off, its time, and what it did last."""

from __future__ import annotations

import argparse
from datetime import datetime

from app.cli.common import err, opened
from scheduler.agent import agent_for, refresh_if_installed
from scheduler.child import run_lock
from scheduler.gate import local_now, parse_stamp
from scheduler.nightly import next_fire_time


def register(commands) -> None:
    parser = commands.add_parser("learning", help="nightly learning: status, on, off, time")
    sub = parser.add_subparsers(dest="learning_command", metavar="ACTION")
    parser.set_defaults(func=status_cmd)
    sub.add_parser("status", help="on/off, time, next and last run").set_defaults(func=status_cmd)
    sub.add_parser("on", help="learn every night").set_defaults(func=on_cmd)
    sub.add_parser("off", help="stop learning at night").set_defaults(func=off_cmd)
    at = sub.add_parser("at", help="learn every night at HH:MM (local time)")
    at.add_argument("time", metavar="HH:MM")
    at.set_defaults(func=at_cmd)


def _when(moment: datetime, now: datetime) -> str:
    """A local time with how far away it is."""
    local = moment.astimezone(now.tzinfo)
    minutes = int(abs((local - now).total_seconds()) // 60)
    span = f"{minutes // 60} h {minutes % 60} min"
    return f"{local:%Y-%m-%d %H:%M} ({'in ' + span if local >= now else span + ' ago'})"


def status_lines(app, now: datetime | None = None) -> list[str]:
    """What `nocturne learning status` prints (also handy for the desktop app's tooltip)."""
    now = now or local_now()
    enabled = app.settings.get("learning_enabled")
    time = app.settings.get("learning_time")
    agent = agent_for(app.home)
    installed = agent.installed()
    minutes = app.settings.get("learning_minutes")
    lines = [f"Nightly learning: {'on' if enabled else 'off'}", f"Time: {time} (local)",
             f"Training time per night: {minutes} min (`nocturne settings set learning_minutes N`)"]
    if not enabled:
        lines.append("Next run: none, learning is off (`nocturne learning on`)")
    else:
        by = (f"by the {agent.kind}" if installed
              else "if Nocturne is open (or caught up at its next start)")
        lines.append(f"Next run: {_when(next_fire_time(time, now), now)}, {by}")
    from app.runs import TrainingRuns  # the learning side owns the runs table

    run = TrainingRuns(app.store).last()
    if run is None:
        lines.append("Last run: never")
    else:
        started = parse_stamp(run["started_at"])
        version = run["adapter_version"]
        result = run["status"] + (f", adapter {version}" if version else "")
        lines.append(f"Last run: #{run['id']} ({run['trigger']}) {_when(started, now)}: {result}")
    lines.append(_model_line(app))
    holder = run_lock(app.home).holder()
    if holder is not None:
        lines.append(f"Running now: pid {holder}")
    lines.append(
        f"Agent: installed ({agent.kind}), runs even when the app is closed" if installed
        else "Agent: not installed, the night runs only while the app is open (`nocturne agent install`)"
    )
    return lines


def _model_line(app) -> str:
    """Whether the current model can be trained here, from its header (milliseconds)."""
    from app.errors import NocturneError
    from app.learning_job import learn_check, learn_check_line

    try:
        return learn_check_line(learn_check(app))
    except NocturneError as exc:  # a missing or unreadable model file
        return f"This model can't be trained here: {exc}"


def status_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        print("\n".join(status_lines(app)))
    return 0


def on_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        app.settings.set("learning_enabled", True)
        time = app.settings.get("learning_time")
    print(f"Nightly learning is on: it runs at {time} when you are idle.")
    return 0


def off_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        app.settings.set("learning_enabled", False)
    print("Nightly learning is off: nothing is trained until you turn it on again.")
    return 0


def at_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        time = app.settings.set("learning_time", args.time)
        problem = refresh_if_installed(app.home, time)
        enabled = app.settings.get("learning_enabled")
    note = "." if enabled else " (but it is off: `nocturne learning on`)."
    print(f"Nightly learning runs at {time}{note}")
    if problem:
        err(f"warning: {problem}")
    return 0
