"""Entry point of `nocturne`: global options, sub-command dispatch, user-facing errors."""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from app.cli.common import Terminated
from app.errors import NocturneError
from app.paths import HOME_ENV
from ondevice.engine import EngineError

# Each module has register(subparsers); a command sets `func(args) -> int`.
COMMAND_MODULES = [
    "app.cli.chat",
    "app.cli.history",
    "app.cli.memories",
    "app.cli.settings",
    "app.cli.learn",
    "app.cli.learning",
    "app.cli.agent",
    "app.cli.models",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nocturne",
        description="A private assistant that learns on your own machine. "
        "With no command, opens the desktop app.",
    )
    parser.add_argument(
        "--home", metavar="DIR", help=f"data folder (default: ${HOME_ENV} or your user data dir)"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.home:
        # Through the environment, so child processes (the learning job) use the same folder.
        os.environ[HOME_ENV] = os.path.abspath(os.path.expanduser(args.home))
    try:
        if args.command is None:
            return launch_desktop()
        return int(args.func(args) or 0)
    except NocturneError as exc:
        print(f"nocturne: {exc}", file=sys.stderr)
        return exc.exit_code
    except EngineError as exc:  # the model would not load or generate: its message says why
        print(f"nocturne: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("nocturne: interrupted.", file=sys.stderr)
        return 130
    except Terminated as exc:
        return exc.exit_code
    except BrokenPipeError:
        # `nocturne history export | head` closed our stdout early: not an error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def launch_desktop() -> int:
    try:
        from ui.app import run
    except ImportError as exc:
        print(
            f"nocturne: the desktop app cannot start here ({exc}); use `nocturne chat`.",
            file=sys.stderr,
        )
        return 1
    return run()


if __name__ == "__main__":
    sys.exit(main())
