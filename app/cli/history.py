"""`nocturne history`: list, show, search, export, import and delete logged conversations."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from app.cli.common import deleted, opened, table
from app.conversations import ConversationLog
from app.chat_exports import FORMAT_NAMES
from app.errors import DataDirError
from app.history_import import import_history
from app.text_input import escape_controls


def register(commands) -> None:
    parser = commands.add_parser("history", help="your logged conversations")
    sub = parser.add_subparsers(dest="history_command", metavar="ACTION", required=True)
    sub.add_parser("list", help="list conversations").set_defaults(func=list_cmd)
    show = sub.add_parser("show", help="show one conversation")
    show.add_argument("id", type=int)
    show.set_defaults(func=show_cmd)
    search = sub.add_parser("search", help="full-text search over every message")
    search.add_argument("query", nargs="+")
    search.set_defaults(func=search_cmd)
    export = sub.add_parser("export", help="export every conversation")
    export.add_argument("--format", choices=["json", "md"], default="json")
    export.add_argument("--out", metavar="FILE", help="write here instead of stdout")
    export.set_defaults(func=export_cmd)
    imports = sub.add_parser("import", help="import chats exported from ChatGPT, Claude, Open WebUI "
                             "or Nocturne (conversations.json or the export's .zip)")
    imports.add_argument("file", metavar="FILE")
    imports.set_defaults(func=import_cmd)
    delete = sub.add_parser("delete", help="delete a conversation for good")
    delete.add_argument("id", type=int)
    delete.set_defaults(func=delete_cmd)


def _timing(m: dict) -> str:
    if m.get("role") != "assistant" or m.get("duration_ms") is None:
        return ""
    return (f"{m['completion_tokens']} tok, {m['tokens_per_s']:.1f} tok/s, "
            f"first token {m['ttft_ms']:.0f} ms")


def list_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        rows = app.log.list()
        if not rows:
            print("No conversations yet: start one with `nocturne chat`.")
            return 0
        print(table([[r["id"], r["updated_at"], r["message_count"], _titled(r)] for r in rows],
                    ["ID", "UPDATED", "MESSAGES", "TITLE"]))
    return 0


def _titled(conversation: dict) -> str:
    """The title, marked with the app an imported conversation came from."""
    source = conversation.get("source")
    return f"{conversation['title']} (imported from {FORMAT_NAMES[source]})" if source else conversation["title"]


def import_cmd(args: argparse.Namespace) -> int:
    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and total:
            print(f"\rImporting… {done * 100 // total}%", end="", file=sys.stderr, flush=True)

    with opened() as app:
        result = import_history(app, Path(args.file).expanduser(), on_progress=progress)
    if sys.stderr.isatty():
        print("\r", end="", file=sys.stderr)
    print(result.summary())
    return 0


def show_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        conversation = app.log.get(args.id)
        print(f"# {escape_controls(conversation['title'])}  (conversation {conversation['id']})\n")
        for m in app.log.messages(args.id):
            meta = [m["created_at"]]
            if m["role"] == "assistant":
                meta += [m["model"] or "", m["adapter_version"] or "base model", _timing(m)]
            if m["status"] != "complete":
                meta.append(m["status"].upper() + (f": {m['error']}" if m["error"] else ""))
            print(escape_controls(f"[{m['id']}] {m['role']} · " + " · ".join(x for x in meta if x)))
            print(escape_controls(m["content"]) + "\n")
    return 0


def search_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        hits = app.log.search(" ".join(args.query))
        if not hits:
            print("No messages match.")
            return 0
        for m in hits:
            meta = [f"conversation {m['conversation_id']} ({m['conversation_title']})",
                    f"message {m['id']}", m["role"], m["created_at"]]
            if m["role"] == "assistant":
                meta += [f"model {m['model']}", m["adapter_version"] or "base model", _timing(m)]
            print(escape_controls(" · ".join(x for x in meta if x)))
            print("  " + escape_controls(m["snippet"].replace("\n", " ")) + "\n")
    return 0


def export_all(log: ConversationLog) -> list[dict]:
    """Every conversation with its messages, oldest first."""
    conversations = sorted(log.list(limit=1_000_000), key=lambda c: c["id"])
    return [{**c, "messages": log.messages(c["id"])} for c in conversations]


def to_markdown(data: list[dict]) -> str:
    parts = []
    for c in data:
        parts.append(f"# {c['title']}\n\n_conversation {c['id']}, started {c['created_at']}_\n")
        for m in c["messages"]:
            who = "You" if m["role"] == "user" else f"Assistant ({m['model']})"
            parts.append(f"**{who}** · {m['created_at']}\n\n{m['content']}\n")
    return "\n".join(parts)


def write_private(path: Path, text: str) -> None:
    """Write atomically, owner-only: an export holds the whole private log."""
    tmp = path.with_name(f".{path.name}.partial")
    try:
        fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise DataDirError(f"Cannot write {path} ({exc.strerror}): choose another --out.") from exc


def export_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        data = export_all(app.log)
    text = json.dumps(data, indent=2, ensure_ascii=False) if args.format == "json" else to_markdown(data)
    if args.out:
        write_private(Path(args.out).expanduser(), text + "\n")
        print(f"Exported {len(data)} conversations to {args.out}.", file=sys.stderr)
    else:
        sys.stdout.write(text + "\n")
    return 0


def delete_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        app.log.delete(args.id)
        print(deleted(app, f"conversation {args.id}"))
    return 0
