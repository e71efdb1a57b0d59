"""`nocturne chat`: one answer, or an interactive session, streamed to the terminal."""

from __future__ import annotations

import argparse
import sys

from app.chat import ChatService
from app.cli.common import Terminated, ending_signals_raise, err, opened
from app.conversations import Conversation
from app.errors import InputError
from app.text_input import escape_controls


def register(commands) -> None:
    parser = commands.add_parser(
        "chat", help="chat with the assistant", description="Answer MESSAGE, or start an "
        "interactive chat when no message is given (Ctrl-D ends it). MESSAGE '-' reads stdin."
    )
    parser.add_argument("message", nargs="?", help="what to say ('-' reads it from stdin)")
    parser.add_argument("--conversation", type=int, metavar="ID", help="continue conversation ID")
    parser.add_argument("--temporary", action="store_true", help="log nothing, learn nothing")
    parser.add_argument("--model", metavar="PATH", help="use this GGUF model file")
    parser.add_argument(
        "--no-memories", action="store_true", help="answer without memories in the prompt"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.temporary and args.conversation is not None:
        raise InputError("--temporary and --conversation exclude each other: a temporary chat "
                         "cannot continue a saved one.")
    with ending_signals_raise(), opened(model_path=args.model) as app:
        conversation = (
            app.log.load(args.conversation) if args.conversation is not None
            else Conversation(temporary=args.temporary)
        )
        service = app.chat(use_memories=not args.no_memories)
        if app.notice:
            err(f"note: {app.notice}")
        failures = 0
        if args.message is not None:
            text = sys.stdin.buffer.read() if args.message == "-" else args.message
            answer(service, conversation, text)
        else:
            failures = interactive(service, conversation)
        if conversation.id is not None:
            err(f"(conversation {conversation.id})")
    return 1 if failures else 0


def answer(service: ChatService, conversation: Conversation, text: str | bytes) -> None:
    """Stream one answer to stdout; Ctrl-C stops the answer, SIGTERM or SIGHUP (the terminal
    closed) stop it and the command: either way what arrived is logged, marked cancelled."""
    reply = service.reply(conversation, text)
    pieces = iter(reply)
    try:
        for piece in pieces:
            sys.stdout.write(escape_controls(piece))
            sys.stdout.flush()
    except (KeyboardInterrupt, Terminated, OSError) as exc:
        reply.cancel()
        pieces.close()  # the turn logs itself now, wherever the signal caught it
        if not isinstance(exc, KeyboardInterrupt):
            raise
        err("\n(stopped)")
    sys.stdout.write("\n")
    sys.stdout.flush()


def interactive(service: ChatService, conversation: Conversation) -> int:
    """Answer line after line until end of input; returns how many lines were refused."""
    failures = 0
    tty = sys.stdin.isatty()
    if tty:
        err(f"Chatting with {service.engine.model_name}. Ctrl-D to end, Ctrl-C to stop an answer.")
    while True:
        if tty:
            sys.stdout.write("> ")
            sys.stdout.flush()
        line = sys.stdin.buffer.readline()
        if not line:
            break
        if not line.strip():
            continue
        try:
            answer(service, conversation, line)
        except InputError as exc:
            failures += 1
            err(f"nocturne: {exc}")
    if tty:
        sys.stdout.write("\n")
    return failures
