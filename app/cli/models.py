"""`nocturne models`: list the GGUFs on this machine, pick one, download one from Hugging Face."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from app.cli.common import err, opened, table
from app.model_library import BUNDLED, available_models, download_model, use_model
from ondevice.gguf_info import chat_reason, human_parameters, human_size


def register(commands) -> None:
    parser = commands.add_parser("models", help="list, choose or download GGUF models")
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    parser.set_defaults(func=list_cmd)
    sub.add_parser("list", help="GGUFs found here and in other apps' folders").set_defaults(
        func=list_cmd)
    use = sub.add_parser("use", help="chat with this GGUF (default: the bundled model)")
    use.add_argument("path", help="a .gguf file, or 'default' for the bundled model")
    use.set_defaults(func=use_cmd)
    download = sub.add_parser("download", help="download a GGUF from Hugging Face")
    download.add_argument("repo", help="the model repo, owner/name")
    download.add_argument("file", help="the .gguf file in that repo")
    download.add_argument("--sha256", metavar="HEX", help="refuse the file unless it matches")
    download.set_defaults(func=download_cmd)


def yes_or_reason(reason: str | None) -> str:
    return "yes" if reason is None else f"no: {reason}"


def list_cmd(args: argparse.Namespace) -> int:
    with opened(adapters=False) as app:
        current = app.settings.get("model_path")
        models = available_models(app.home, trainer=app.settings.get("trainer"))
    rows = []
    for found in models:
        info = found.info
        in_use = (Path(current).resolve() == info.path.resolve() if current
                  else found.source == BUNDLED)
        rows.append(["*" if in_use else "", found.source, found.label, info.architecture,
                     human_parameters(info.parameters), info.quantization, human_size(info.size),
                     yes_or_reason(chat_reason(info)), yes_or_reason(found.cannot_learn),
                     str(info.path)])
    print(table(rows, ["", "SOURCE", "NAME", "ARCH", "PARAMS", "QUANT", "SIZE", "CHAT", "LEARN",
                       "PATH"]))
    print("\n* in use. Choose one with `nocturne models use PATH`.")
    return 0


def use_cmd(args: argparse.Namespace) -> int:
    with opened(adapters=False) as app:
        name = use_model(app, args.path)
    print(f"Chats now use {name}.")
    return 0


def download_cmd(args: argparse.Namespace) -> int:
    def show(progress) -> None:
        done = progress.done / 1e6
        total = f" of {progress.total / 1e6:.1f}" if progress.total else ""
        sys.stderr.write(f"\r{done:.1f}{total} MB")
        sys.stderr.flush()

    with opened(adapters=False) as app:
        try:
            path = download_model(app.home, args.repo, args.file, args.sha256, progress=show)
        finally:
            err("")  # end the progress line, so an error starts on its own line
    print(f"Downloaded {path}. Use it with `nocturne models use {path}`.")
    return 0
