"""`nocturne learning status | on | off | at HH:MM` as a user runs it."""

from __future__ import annotations

import sqlite3

from tests.conftest import run_cli


def out(result) -> str:
    return result.stdout.decode()


def test_learning_on_off_at_and_status(nocturne_home, tmp_path):
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config")}
    fresh = run_cli("learning", "status", home=nocturne_home, env=env)
    assert fresh.returncode == 0, fresh.stderr.decode()
    assert "Nightly learning: on" in out(fresh) and "Time: 03:00" in out(fresh)
    assert "Last run: never" in out(fresh) and "Agent: not installed" in out(fresh)
    assert "Next run: " in out(fresh) and " 03:00 (in " in out(fresh)

    moved = run_cli("learning", "at", "4:05", home=nocturne_home, env=env)
    assert "runs at 04:05." in out(moved)
    off = run_cli("learning", "off", home=nocturne_home, env=env)
    assert off.returncode == 0 and "off" in out(off)
    status = out(run_cli("learning", home=nocturne_home, env=env))  # status is the default
    assert "Nightly learning: off" in status and "Time: 04:05" in status
    assert "Next run: none" in status

    db = sqlite3.connect(nocturne_home / "nocturne.db")
    db.execute("INSERT INTO training_runs (trigger, started_at, ended_at, status, adapter_version)"
               " VALUES ('scheduled', '2026-01-02T03:00:00+00:00', '2026-01-02T03:20:00+00:00',"
               " 'succeeded', 'v7')")
    db.commit()
    db.close()
    assert run_cli("learning", "on", home=nocturne_home, env=env).returncode == 0
    status = out(run_cli("learning", "status", home=nocturne_home, env=env))
    assert "Nightly learning: on" in status and " 04:05 (in " in status
    assert "Last run: #1 (scheduled) " in status and "succeeded, adapter v7" in status


def test_a_bad_time_is_one_clear_sentence(nocturne_home):
    bad = run_cli("learning", "at", "25:00", home=nocturne_home)
    assert bad.returncode == 1
    message = bad.stderr.decode().strip()
    assert "not a valid learning_time" in message and "HH:MM" in message
    assert "Traceback" not in message
