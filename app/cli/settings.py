"""`nocturne settings`: show or change a setting."""

from __future__ import annotations

import argparse
import json

from app.cli.common import opened, table
from app.settings import SETTINGS


def register(commands) -> None:
    parser = commands.add_parser("settings", help="show or change settings")
    sub = parser.add_subparsers(dest="settings_command", metavar="ACTION")
    parser.set_defaults(func=show_cmd)
    setter = sub.add_parser("set", help="change a setting")
    setter.add_argument("key", choices=sorted(SETTINGS))
    setter.add_argument("value")
    setter.set_defaults(func=set_cmd)


def show_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        values = app.settings.all()
        print(table([[k, json.dumps(v), SETTINGS[k].help] for k, v in values.items()],
                    ["SETTING", "VALUE", "MEANING"]))
        print(f"\nData folder: {app.home}")
    return 0


def set_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        value = app.settings.set(args.key, args.value)
    print(f"{args.key} = {json.dumps(value)}")
    return 0
