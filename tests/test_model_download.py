"""Downloading a GGUF from a Hugging Face hub (a loopback one): progress, resume, sha256, cancel."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest

from app.model_library import DownloadFailed, DownloadStopped, download_model, downloads_dir
from ondevice.gguf_info import read_gguf_info
from tests.conftest import run_cli
from tests.gguf_helpers import write_gguf
from tests.hub_server import HubServer, hub_online

__all__ = ["hub_online"]  # the fixture, imported for pytest

REPO = "someone/Tiny-GGUF"
FILE = "tiny-Q4_1.gguf"


@pytest.fixture
def model_bytes(tmp_path) -> bytes:
    """A real tiny GGUF, padded with metadata to a few MB so it arrives in many pieces."""
    path = write_gguf(tmp_path / "src.gguf", name="Tiny Download")
    data = path.read_bytes()
    return data + os.urandom(3 * 1024 * 1024)  # trailing bytes: still a readable header


def download(app, hub_online, hub, **kwargs):
    hub_online(hub)
    return download_model(app.home, REPO, FILE, **kwargs)


def test_download_completes_checks_sha256_and_is_private(app, hub_online, model_bytes):
    digest = hashlib.sha256(model_bytes).hexdigest()
    seen = []
    with HubServer({(REPO, FILE): model_bytes}) as hub:
        path = download(app, hub_online, hub, sha256=digest.upper(), progress=seen.append)
    assert path == downloads_dir(app.home) / FILE
    assert path.read_bytes() == model_bytes
    assert read_gguf_info(path).name == "Tiny Download"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(seen) > 2 and seen[-1].done == len(model_bytes) == seen[-1].total
    assert [p.done for p in seen] == sorted(p.done for p in seen)


def test_a_dropped_connection_resumes_where_it_stopped(app, hub_online, model_bytes):
    cut = 1024 * 1024
    with HubServer({(REPO, FILE): model_bytes}, cut_first_get_after=cut) as hub:
        path = download(app, hub_online, hub)
    assert path.read_bytes() == model_bytes
    assert hub.ranges() == [f"bytes={cut}-"]  # the second GET asked only for the rest
    assert hub.bytes_sent == len(model_bytes)


def test_cancel_keeps_the_part_and_the_next_try_resumes(app, hub_online, model_bytes):
    with HubServer({(REPO, FILE): model_bytes}, seconds_per_chunk=0.01) as hub:
        got = []
        with pytest.raises(DownloadStopped, match="cancelled"):
            download(app, hub_online, hub, progress=got.append,
                     should_stop=lambda: bool(got) and got[-1].done >= 512 * 1024)
        assert not (downloads_dir(app.home) / FILE).exists()
        sent_before = hub.bytes_sent
        assert sent_before < len(model_bytes)
        hub.seconds_per_chunk = 0
        path = download(app, hub_online, hub)
    assert path.read_bytes() == model_bytes
    resumed_at = int(hub.ranges()[-1].removeprefix("bytes=").rstrip("-"))
    assert resumed_at >= 512 * 1024  # it did not start over
    assert hub.bytes_sent < 2 * len(model_bytes) - resumed_at + 1


def test_a_wrong_sha256_deletes_the_file_and_says_so(app, hub_online, model_bytes):
    with HubServer({(REPO, FILE): model_bytes}) as hub:
        with pytest.raises(DownloadFailed, match="does not match the sha256"):
            download(app, hub_online, hub, sha256="ab" * 32)
    assert not (downloads_dir(app.home) / FILE).exists()


def test_missing_repo_or_file_and_bad_input_are_one_sentence(app, hub_online, model_bytes):
    with HubServer({(REPO, FILE): model_bytes}) as hub:
        hub_online(hub)
        with pytest.raises(DownloadFailed, match="has no file other.gguf"):
            download_model(app.home, REPO, "other.gguf")
        with pytest.raises(DownloadFailed, match="no model repo nobody/Nothing"):
            download_model(app.home, "nobody/Nothing", FILE)
    with pytest.raises(DownloadFailed, match="owner/name"):
        download_model(app.home, "not-a-repo", FILE)
    with pytest.raises(DownloadFailed, match="not a .gguf"):
        download_model(app.home, REPO, "weights.safetensors")
    with pytest.raises(DownloadFailed, match="64 hexadecimal"):
        download_model(app.home, REPO, FILE, sha256="xyz")


def test_cli_download_then_use(nocturne_home, model_bytes):
    digest = hashlib.sha256(model_bytes).hexdigest()
    with HubServer({(REPO, FILE): model_bytes}) as hub:
        env = {"HF_ENDPOINT": hub.endpoint, "HF_HUB_OFFLINE": "0"}
        bad = run_cli("models", "download", REPO, FILE, "--sha256", "0" * 64,
                      home=nocturne_home, env=env, timeout=120)
        good = run_cli("models", "download", REPO, FILE, "--sha256", digest,
                       home=nocturne_home, env=env, timeout=120)
    assert bad.returncode == 1
    assert "does not match" in bad.stderr.decode() and "Traceback" not in bad.stderr.decode()
    assert good.returncode == 0, good.stderr.decode()
    path = nocturne_home / "models" / FILE
    assert str(path) in good.stdout.decode()
    assert path.read_bytes() == model_bytes
