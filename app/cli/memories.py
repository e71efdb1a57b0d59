"""`nocturne memories`: list, add, edit, approve, reject, delete and propose memories."""

from __future__ import annotations

import argparse
import sys

from app.cli.common import deleted, opened, table
from app.errors import InputError
from app.memories import KINDS, STATUSES, MemoryService
from app.memory_review import SOURCES, MemoryFilter
from app.memory_forget import MENTION_REASONS


def register(commands) -> None:
    parser = commands.add_parser("memories", help="what Nocturne has learned about you")
    sub = parser.add_subparsers(dest="memories_command", metavar="ACTION", required=True)
    listing = sub.add_parser("list", help="list memories, newest first")
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--search", metavar="WORDS", help="only memories containing these words")
    _filters(listing)
    listing.set_defaults(func=list_cmd)
    add = sub.add_parser("add", help="add an approved memory ('-' reads it from stdin)")
    add.add_argument("text")
    add.add_argument("--kind", choices=KINDS, default=None, help="default: guessed from the text")
    add.set_defaults(func=add_cmd)
    edit = sub.add_parser("edit", help="change a memory's text")
    edit.add_argument("id", type=int)
    edit.add_argument("text")
    edit.set_defaults(func=edit_cmd)
    for name, helptext in (("approve", "approve memories (used and learned)"),
                           ("reject", "reject memories (never used, learned or proposed again)")):
        action = sub.add_parser(name, help=helptext + ": by ID, or every pending one a filter picks")
        action.add_argument("ids", type=int, nargs="*", metavar="ID")
        action.add_argument("--all-pending", action="store_true",
                            help="every pending memory, narrowed by --source, --kind, --conversation")
        _filters(action)
        action.set_defaults(func=status_cmd, action=name)
    delete = sub.add_parser("delete", help="delete a memory for good; adapters that learned it are discarded")
    delete.add_argument("id", type=int)
    delete.add_argument("--with-conversations", action="store_true",
                        help="also delete the conversation it came from; the others that mention it "
                             "are listed and deleted once you confirm")
    delete.add_argument("--yes", action="store_true",
                        help="with --with-conversations: delete the others that mention it without "
                             "asking (needed when no one is at the terminal)")
    delete.set_defaults(func=delete_cmd)
    propose = sub.add_parser("propose", help="propose pending memories from your chats")
    propose.add_argument("--since", metavar="DATE", help="only chats from DATE (YYYY-MM-DD) on")
    propose.set_defaults(func=propose_cmd)


def _filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--source", choices=SOURCES,
                        help="where it came from: an import (chatgpt, claude, open-webui, nocturne, "
                             "or imported for any), a chat here (chat), or added by hand (hand)")
    parser.add_argument("--kind", choices=KINDS)
    parser.add_argument("--conversation", type=int, metavar="N", help="only memories from conversation N")


def _filter(args: argparse.Namespace, status: str | None) -> MemoryFilter:
    return MemoryFilter(status=status, source=args.source, kind=args.kind,
                        conversation_id=args.conversation, query=getattr(args, "search", None))


def _text(value: str) -> str | bytes:
    return sys.stdin.buffer.read() if value == "-" else value


def list_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        chosen = _filter(args, args.status)
        rows = MemoryService(app).list(chosen.status, chosen.query, source=chosen.source,
                                       kind=chosen.kind, conversation_id=chosen.conversation_id)
    if not rows and chosen.is_narrowed():
        print("No memory matches: `nocturne memories list` shows them all.")
        return 0
    if not rows:
        print("No memories yet: say “remember that …” in a chat, or `nocturne memories add TEXT`.")
        return 0
    print(table([[r["id"], "review" if r["superseded"] else r["status"], r["kind"], "yes" if r["learned"] else "",
                  _from_chat(r), r["text"]] for r in rows],
                ["ID", "STATUS", "KIND", "LEARNED", "FROM CHAT", "MEMORY"]))
    for r in rows:
        if r["superseded"]:
            print(f"Review: {r['superseded']} (edit or delete it with `nocturne memories`).")
    return 0


def _from_chat(row: dict) -> str:
    """The source conversation's id, and the app it was imported from."""
    if row["source_conversation_id"] is None:
        return ""
    source = row.get("conversation_source")
    return f"{row['source_conversation_id']} ({source})" if source else str(row["source_conversation_id"])


def add_cmd(args: argparse.Namespace) -> int:
    from app.memory_capture import kind_of

    text = _text(args.text)
    with opened() as app:
        service = MemoryService(app)
        kind = args.kind or (kind_of(text) if isinstance(text, str) else "fact")
        memory_id = service.add(text, kind=kind)
    print(f"Added memory {memory_id} ({kind}, approved): it is used in chats now and learned tonight.")
    return 0


def edit_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        MemoryService(app).edit(args.id, _text(args.text))
    print(f"Updated memory {args.id}.")
    return 0


def status_cmd(args: argparse.Namespace) -> int:
    """Approve or reject the IDs given, or every pending memory the filters pick, all or none."""
    filtered = args.source or args.kind or args.conversation is not None
    if args.ids and (args.all_pending or filtered):
        raise InputError(f"Give memory IDs or --all-pending with filters, not both: "
                         f"`nocturne memories {args.action} 12 14` or "
                         f"`nocturne memories {args.action} --all-pending --source chatgpt`.")
    if not args.ids and not args.all_pending:
        raise InputError(f"Say which memories to {args.action}: their IDs, or --all-pending "
                         f"(narrowed by --source, --kind or --conversation).")
    with opened() as app:
        service = MemoryService(app)
        ids = args.ids or service.matching_ids(_filter(args, "pending"))
        result = service.review(ids, "approved" if args.action == "approve" else "rejected")
    print(result.summary())
    return 0


def _described(conversations: list[dict]) -> str:
    return "\n".join(f"  {c['id']}  “{c['title']}” ({MENTION_REASONS[c['why']]})" for c in conversations)


def _confirmed(others: list[dict]) -> bool:
    """Ask before deleting conversations beyond the memory's source; no terminal means no."""
    if not sys.stdin.isatty():
        return False
    print(f"Other conversations that mention it:\n{_described(others)}")
    try:
        answer = input("Delete them too? [y/N] ")
    except EOFError:
        answer = ""
    return answer.strip().lower() in ("y", "yes")


def delete_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        service = MemoryService(app)
        others = []
        if args.with_conversations:
            others = [c for c in service.conversations_mentioning(args.id) if c["why"] != "source"]
        confirmed = bool(others) and (args.yes or _confirmed(others))
        result = service.delete(args.id, delete_conversations=args.with_conversations,
                                also_conversations=[c["id"] for c in others] if confirmed else ())
        retrain = service.retrain_needed()
        print(deleted(app, f"memory {args.id}"))
    if result["conversation_ids"]:
        print("Deleted conversations " + ", ".join(map(str, result["conversation_ids"])) + ".")
    if result["still_mentioned"]:
        print("These conversations still mention it (`nocturne history delete ID` deletes one):\n"
              + _described(result["still_mentioned"]))
        if others and not confirmed and not sys.stdin.isatty():
            print("They were kept because nobody was at the terminal to confirm (--yes deletes them "
                  "without asking).")
    if result["tainted_adapters"]:
        print("Discarded adapters that had learned it: " + ", ".join(result["tainted_adapters"])
              + (". Tonight's run retrains without it." if retrain else "."))
    return 0


def propose_cmd(args: argparse.Namespace) -> int:
    with opened() as app:
        service = MemoryService(app)
        ids = service.propose(since=args.since)
        rows = [service.get(i) for i in ids]
    if not rows:
        print("No new memories to propose.")
        return 0
    print(f"Proposed {len(rows)} memories for review (approve or reject them):")
    print(table([[r["id"], r["kind"], r["text"]] for r in rows], ["ID", "KIND", "MEMORY"]))
    return 0
