"""The desktop bundle (`make bundle`): its CI workflow's shape, how it runs itself, and (slow
suite) a real build run with no venv: chat, the desktop window under Xvfb, a learning run."""

from __future__ import annotations

import os
import platform
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

from app import self_command
from scheduler.agent import agent_command

REPO = Path(__file__).resolve().parent.parent
WORKFLOW = REPO / ".github" / "workflows" / "bundle.yml"


def test_the_workflow_builds_for_macos_arm64_and_windows_with_the_project_script():
    workflow = yaml.safe_load(WORKFLOW.read_text())
    job = workflow["jobs"]["bundle"]
    runners = {row["os"] for row in job["strategy"]["matrix"]["include"]}
    assert runners == {"macos-14", "windows-latest"}  # macos-14 runners are arm64
    assert job["runs-on"] == "${{ matrix.os }}"
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), step
    scripts = [step["run"] for step in job["steps"] if "run" in step]
    assert any("packaging/build-bundle.sh" in run for run in scripts)
    assert os.access(REPO / "packaging" / "build-bundle.sh", os.X_OK)
    # yaml reads a bare `on:` as True; the workflow must say when it runs.
    assert workflow.get("on", workflow.get(True))


def test_the_spec_and_entry_are_valid_python():
    for name in ("nocturne.spec", "entry.py", "make_icon.py"):
        source = (REPO / "packaging" / name).read_text()
        compile(source, name, "exec")


def test_a_bundle_runs_itself_not_python_dash_m(monkeypatch, tmp_path):
    assert self_command.nocturne_argv()[1:] == ["-m", "app.cli.main"]
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "executable", "/opt/Nocturne/nocturne")
    assert self_command.nocturne_argv() == ["/opt/Nocturne/nocturne"]
    # The OS agent runs the bundle's own executable, whatever `nocturne` is on PATH.
    assert agent_command(tmp_path)[:1] == ["/opt/Nocturne/nocturne"]
    assert agent_command(tmp_path)[-2:] == ["learn", "--scheduled"]


# --- the real bundle (slow suite) -----------------------------------------------------------

def _clean_env(home: Path, **extra: str) -> dict[str, str]:
    """What a user's shell has: no venv, no PYTHONPATH, a minimal PATH."""
    return {"PATH": "/usr/bin:/bin", "HOME": str(home), "LANG": "C.UTF-8",
            "NOCTURNE_HOME": str(home / "data"), **extra}


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """`make bundle`, unpacked into a fresh folder outside the repository."""
    if platform.system() != "Linux":
        pytest.skip("this test unpacks the Linux tar.gz")
    started = time.monotonic()
    subprocess.run(["make", "bundle"], cwd=REPO, check=True, timeout=1800)
    print(f"\nbundle built in {time.monotonic() - started:.0f} s")
    archive = REPO / "dist" / f"Nocturne-linux-{platform.machine()}.tar.gz"
    target = tmp_path_factory.mktemp("unpacked")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="tar")
    folder = target / "nocturne"
    size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
    print(f"bundle: {archive.stat().st_size / 1e6:.0f} MB packed, {size / 1e6:.0f} MB unpacked")
    return folder


def _run(bundle: Path, home: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([str(bundle / "nocturne"), *args], capture_output=True, text=True,
                          env=_clean_env(home), stdin=subprocess.DEVNULL, timeout=timeout,
                          cwd=home)


@pytest.mark.slow
def test_the_bundle_answers_a_question_with_no_python_around(bundle, tmp_path):
    done = _run(bundle, tmp_path, "chat", "What is the capital of France?")
    assert done.returncode == 0, done.stderr
    assert "Paris" in done.stdout


@pytest.mark.slow
def test_the_bundle_learns_two_memories_with_the_llamacpp_trainer(bundle, tmp_path):
    for memory in ("My cat is called Miso", "I live in Lyon"):
        added = _run(bundle, tmp_path, "memories", "add", memory)
        assert added.returncode == 0, added.stderr
    done = _run(bundle, tmp_path, "learn", "--trainer", "llamacpp", timeout=1500)
    assert "Traceback" not in done.stderr
    report = _run(bundle, tmp_path, "report")
    assert report.returncode == 0, report.stderr
    # Ran to completion: the gate decided (promoted or rejected), not failed or cancelled.
    assert done.returncode == 0, done.stdout + done.stderr
    assert "failed" not in report.stdout.lower()


@pytest.mark.slow
def test_the_bundle_opens_the_desktop_window_under_xvfb(bundle, tmp_path):
    if not (shutil.which("Xvfb") and shutil.which("xdotool") and shutil.which("xwd")):
        pytest.fail("Xvfb, xdotool and xwd come with scripts/system-deps.sh")
    display = ":87"
    xvfb = subprocess.Popen(["Xvfb", display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
    app = None
    try:
        time.sleep(1.5)
        app = subprocess.Popen([str(bundle / "nocturne")], env=_clean_env(tmp_path, DISPLAY=display),
                               stdin=subprocess.DEVNULL, cwd=tmp_path)
        found = subprocess.run(["xdotool", "search", "--sync", "--onlyvisible", "--name", "Nocturne"],
                               env={"DISPLAY": display}, capture_output=True, text=True, timeout=120)
        assert found.stdout.strip(), "no Nocturne window appeared"
        time.sleep(3)  # let the window paint
        shot = tmp_path / "bundle-window.xwd"
        subprocess.run(["xwd", "-root", "-silent", "-out", str(shot)], env={"DISPLAY": display},
                       check=True, timeout=30)
        pixels = shot.read_bytes()[-1280 * 800 * 4:]
        assert len(set(pixels[::997])) > 8, "the screen is blank"
        assert app.poll() is None, "the app exited"
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app.kill()
        xvfb.terminate()
        xvfb.wait(timeout=10)
