"""`nocturne agent`: let the OS run nightly learning even when the app is closed."""

from __future__ import annotations

import argparse

from app.cli.common import err, opened
from scheduler.agent import agent_command, agent_for


def register(commands) -> None:
    parser = commands.add_parser(
        "agent", help="run nightly learning even when the app is closed",
        description="Register the nightly learning job with the OS scheduler (systemd user "
        "timer, launchd agent, Task Scheduler). While it is installed the app does not run "
        "the night itself, so a night never runs twice.",
    )
    sub = parser.add_subparsers(dest="agent_command", metavar="ACTION", required=True)
    sub.add_parser("install", help="register the job with the OS").set_defaults(func=install_cmd)
    sub.add_parser("uninstall", help="remove the job from the OS").set_defaults(func=uninstall_cmd)
    sub.add_parser("status", help="is the job registered?").set_defaults(func=status_cmd)


def install_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        time = app.settings.get("learning_time")
        agent = agent_for(app.home)
        problem = agent.install(time)
    for path in agent.files():
        print(f"wrote {path}")
    print(f"The {agent.kind} runs `{' '.join(agent_command(app.home))}` every day at {time}.")
    if problem:
        err(f"warning: the files are written but the OS scheduler was not told ({problem}): "
            f"run `{agent.activation_hint()}` in your desktop session.")
    return 0


def uninstall_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        removed = agent_for(app.home).uninstall()
    for path in removed:
        print(f"removed {path}")
    print("The agent is uninstalled: the night runs only while the app is open." if removed
          else "The agent was not installed: nothing to remove.")
    return 0


def status_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        agent = agent_for(app.home)
        installed = agent.installed()
    if installed:
        print(f"installed: {agent.kind}")
        for path in agent.files():
            print(f"  {path}")
    else:
        print(f"not installed (`nocturne agent install` registers a {agent.kind})")
    return 0
