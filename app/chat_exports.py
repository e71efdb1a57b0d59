"""Read chat exports from other apps into one shape: ChatGPT, Claude, Open WebUI and Nocturne.

Each export is a JSON array of conversations (ChatGPT and Claude ship it as `conversations.json`,
also inside their .zip). The array is streamed with ijson, one conversation at a time, so an
export of thousands of chats never sits in memory whole.
"""

from __future__ import annotations

import hashlib
import json
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO

import ijson

from app.errors import InputError

FORMATS = ("chatgpt", "claude", "open-webui", "nocturne")
FORMAT_NAMES = {"chatgpt": "ChatGPT", "claude": "Claude", "open-webui": "Open WebUI",
                "nocturne": "Nocturne"}
UNKNOWN = ("is not a chat export Nocturne can read: it reads the conversations.json (or the .zip) "
           "of a ChatGPT or Claude data export, an Open WebUI chats export, or a Nocturne JSON "
           "export.")


@dataclass
class ImportedMessage:
    role: str  # user | assistant
    content: str
    created_at: str | None  # ISO 8601 UTC, when the export has it


@dataclass
class ImportedConversation:
    source: str  # one of FORMATS
    source_id: str  # the conversation's id in the export: a re-import skips it
    title: str
    created_at: str | None
    updated_at: str | None
    messages: list[ImportedMessage] = field(default_factory=list)


def iso(value) -> str | None:
    """An export's timestamp (epoch seconds or milliseconds, or ISO text) as ISO 8601 UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)) or (isinstance(value, str) and value.replace(".", "", 1).isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="seconds")
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.astimezone(timezone.utc).isoformat(timespec="seconds")


def _text(value) -> str:
    """Plain text from a string or a list of text parts (ChatGPT parts, Claude content blocks)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = [_text(part.get("text") if isinstance(part, dict) else part) for part in value]
        return "\n".join(p for p in parts if p)
    return ""


def _message(role: str, content, created) -> ImportedMessage | None:
    role = {"human": "user", "user": "user", "assistant": "assistant"}.get(role or "")
    text = _text(content).replace("\x00", "").strip()
    if role is None or not text:
        return None  # system prompts, tool calls, images without text
    return ImportedMessage(role, text, iso(created))


def _branch(nodes: dict, leaf, parent_key: str) -> list[dict]:
    """The messages on the path from the root to `leaf` (the branch the user saw last)."""
    path, seen = [], set()
    while leaf is not None and leaf in nodes and leaf not in seen:
        seen.add(leaf)
        path.append(nodes[leaf])
        leaf = nodes[leaf].get(parent_key)
    return path[::-1]


def from_chatgpt(item: dict) -> ImportedConversation:
    mapping = item.get("mapping") or {}
    leaf = item.get("current_node") or next(
        (key for key, node in mapping.items() if not node.get("children")), None)
    messages = []
    for node in _branch(mapping, leaf, "parent"):
        message = node.get("message") or {}
        if (message.get("metadata") or {}).get("is_visually_hidden_from_conversation"):
            continue
        parsed = _message((message.get("author") or {}).get("role"),
                          (message.get("content") or {}).get("parts"), message.get("create_time"))
        if parsed:
            messages.append(parsed)
    return ImportedConversation("chatgpt", str(item.get("conversation_id") or item.get("id") or ""),
                                item.get("title") or "", iso(item.get("create_time")),
                                iso(item.get("update_time")), messages)


def from_claude(item: dict) -> ImportedConversation:
    messages = []
    for message in item.get("chat_messages") or []:
        content = message.get("content") or message.get("text")
        parsed = _message(message.get("sender"), content, message.get("created_at"))
        if parsed:
            messages.append(parsed)
    return ImportedConversation("claude", str(item.get("uuid") or ""), item.get("name") or "",
                                iso(item.get("created_at")), iso(item.get("updated_at")), messages)


def from_open_webui(item: dict) -> ImportedConversation:
    chat = item.get("chat") or {}
    history = chat.get("history") or {}
    nodes = history.get("messages") or {}
    rows = _branch(nodes, history.get("currentId"), "parentId") if nodes else chat.get("messages") or []
    messages = [m for m in (_message(r.get("role"), r.get("content"), r.get("timestamp"))
                            for r in rows) if m]
    return ImportedConversation("open-webui", str(item.get("id") or chat.get("id") or ""),
                                item.get("title") or chat.get("title") or "",
                                iso(item.get("created_at") or chat.get("timestamp")),
                                iso(item.get("updated_at")), messages)


def from_nocturne(item: dict) -> ImportedConversation:
    messages = [m for m in (_message(r.get("role"), r.get("content"), r.get("created_at"))
                            for r in item.get("messages") or [] if r.get("status") != "error") if m]
    source, source_id = item.get("source"), item.get("source_id")
    if not (source and source_id):
        # A conversation first written by Nocturne: its content identifies it across exports.
        digest = hashlib.sha256(json.dumps([(m.role, m.content, m.created_at) for m in messages],
                                           ensure_ascii=False).encode()).hexdigest()[:24]
        source, source_id = "nocturne", f"{item.get('created_at')}|{digest}"
    return ImportedConversation(source, source_id, item.get("title") or "",
                                iso(item.get("created_at")), iso(item.get("updated_at")), messages)


READERS = {"chatgpt": from_chatgpt, "claude": from_claude, "open-webui": from_open_webui,
           "nocturne": from_nocturne}


def format_of(item: dict) -> str | None:
    """Which app wrote this conversation object, from the keys only that app writes."""
    if not isinstance(item, dict):
        return None
    if "mapping" in item and ("create_time" in item or "current_node" in item):
        return "chatgpt"
    if "chat_messages" in item and "uuid" in item:
        return "claude"
    if isinstance(item.get("chat"), dict) and ("history" in item["chat"] or "messages" in item["chat"]):
        return "open-webui"
    if isinstance(item.get("messages"), list) and "title" in item and "created_at" in item:
        return "nocturne"
    return None


@contextmanager
def open_export(path: Path) -> Iterator[tuple[BinaryIO, int]]:
    """The export's JSON stream and its size in bytes (for progress); a .zip is looked into."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as archive:
                names = [n for n in archive.namelist() if n.rsplit("/", 1)[-1] == "conversations.json"]
                if not names:
                    raise InputError(f"{path.name} has no conversations.json inside: it {UNKNOWN[3:]}")
                info = archive.getinfo(names[0])
                with archive.open(info) as stream:
                    yield stream, info.file_size
        else:
            with open(path, "rb") as stream:
                yield stream, path.stat().st_size
    except FileNotFoundError as exc:
        raise InputError(f"There is no file {path}: check the path.") from exc
    except IsADirectoryError as exc:
        raise InputError(f"{path} is a folder: give the export's conversations.json or .zip.") from exc
    except PermissionError as exc:
        raise InputError(f"Cannot read {path}: check its permissions.") from exc
    except (zipfile.BadZipFile, OSError) as exc:
        raise InputError(f"Cannot read {path} ({exc}): the file may be damaged.") from exc


def read_export(stream: BinaryIO, path_name: str) -> Iterator[tuple[str, ImportedConversation]]:
    """(format, conversation) for each conversation in the stream, in the export's order.

    Raises:
        InputError: not JSON, not an array of conversations, or from an app this doesn't know.
    """
    reader = None
    try:
        for item in ijson.items(stream, "item", use_float=True):
            if reader is None:
                kind = format_of(item)
                if kind is None:
                    raise InputError(f"{path_name} {UNKNOWN}")
                reader = kind
            if format_of(item) != reader:
                continue  # a stray object of another shape: not a conversation of this export
            yield reader, READERS[reader](item)
    except ijson.JSONError as exc:
        raise InputError(f"{path_name} is not valid JSON ({exc}): is the export complete?") from exc
    except UnicodeDecodeError as exc:
        raise InputError(f"{path_name} is not UTF-8 text: it {UNKNOWN[3:]}") from exc
    if reader is None and stream.seekable():
        # An empty array imports nothing; JSON that is no array at all (ijson yields nothing
        # for an object) is not an export.
        stream.seek(0)
        if not stream.read(1 << 10).lstrip().startswith(b"["):
            raise InputError(f"{path_name} {UNKNOWN}")
