"""A tiny Hugging Face hub on 127.0.0.1 for download tests: no test touches the internet.

It answers what `hf_hub_download` asks: HEAD and GET on
{endpoint}/{repo}/resolve/{revision}/{file}, with the ETag / X-Repo-Commit / X-Linked-Size
headers the hub sends for an LFS file, Range requests (resume), and the hub's error codes.
It can cut the first GET short (a dropped connection) and slow its sending down (to cancel).
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
CHUNK = 64 * 1024
RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<revision>[^/]+)/(?P<file>.+)$")


class HubServer:
    """Serves `files` {(repo, filename): bytes}. Use as a context manager; `endpoint` is its URL.

    Args:
        files: what the hub holds.
        cut_first_get_after: close the first GET after this many bytes (None: never).
        seconds_per_chunk: sleep between 64 KB chunks (to cancel mid-download).
    """

    def __init__(self, files: dict[tuple[str, str], bytes], cut_first_get_after: int | None = None,
                 seconds_per_chunk: float = 0.0):
        self.files = files
        self.cut_first_get_after = cut_first_get_after
        self.seconds_per_chunk = seconds_per_chunk
        self.requests: list[tuple[str, str, str | None]] = []  # method, path, Range header
        self.bytes_sent = 0
        self._gets = 0
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> "HubServer":
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def ranges(self) -> list[str]:
        return [r for method, _, r in self.requests if method == "GET" and r]

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _target(self) -> bytes | None:
                hub.requests.append((self.command, self.path, self.headers.get("Range")))
                match = RESOLVE.match(self.path.split("?")[0])
                repos = {repo for repo, _ in hub.files}
                if not match or match["repo"] not in repos:
                    self._error(404, "RepoNotFound", "Repository not found")
                    return None
                data = hub.files.get((match["repo"], match["file"]))
                if data is None:
                    self._error(404, "EntryNotFound", "Entry not found")
                    return None
                return data

            def _error(self, status: int, code: str, message: str) -> None:
                body = message.encode()
                self.send_response(status)
                self.send_header("X-Error-Code", code)
                self.send_header("X-Error-Message", message)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _file_headers(self, data: bytes) -> None:
                digest = hashlib.sha256(data).hexdigest()
                self.send_header("ETag", f'"{digest}"')
                self.send_header("X-Linked-Etag", f'"{digest}"')
                self.send_header("X-Linked-Size", str(len(data)))
                self.send_header("X-Repo-Commit", COMMIT)
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Type", "application/octet-stream")

            def do_HEAD(self) -> None:
                data = self._target()
                if data is None:
                    return
                self.send_response(200)
                self._file_headers(data)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()

            def do_GET(self) -> None:
                data = self._target()
                if data is None:
                    return
                start = 0
                wanted = re.match(r"bytes=(\d+)-", self.headers.get("Range") or "")
                if wanted:
                    start = int(wanted[1])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self._file_headers(data)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                hub._gets += 1
                limit = len(data)
                if hub._gets == 1 and hub.cut_first_get_after is not None:
                    limit = min(limit, start + hub.cut_first_get_after)
                for at in range(start, limit, CHUNK):
                    try:
                        self.wfile.write(data[at:min(at + CHUNK, limit)])
                        self.wfile.flush()
                    except OSError:
                        return  # the client went away (cancelled)
                    hub.bytes_sent += min(at + CHUNK, limit) - at
                    if hub.seconds_per_chunk:
                        time.sleep(hub.seconds_per_chunk)
                if limit < len(data):
                    self.close_connection = True  # a dropped connection mid-file

        return Handler


@pytest.fixture
def hub_online(monkeypatch):
    """conftest keeps the hub offline for every other test; these ones talk to 127.0.0.1.

    Returns a function that points huggingface_hub at a HubServer (what HF_ENDPOINT does at
    import time).
    """
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    # Small reads, so progress and cancel happen mid-file (the library default is 10 MB).
    monkeypatch.setattr(constants, "DOWNLOAD_CHUNK_SIZE", 64 * 1024)

    def point_at(hub: HubServer) -> None:
        monkeypatch.setattr(constants, "ENDPOINT", hub.endpoint)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE",
                            hub.endpoint + "/{repo_id}/resolve/{revision}/{filename}")
    return point_at
