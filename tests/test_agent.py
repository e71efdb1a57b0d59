"""`nocturne agent`: the OS registrations are written, valid, removed, and make the app stand down."""

from __future__ import annotations

import plistlib
import shutil
import subprocess
import xml.etree.ElementTree as ET

import pytest

from scheduler import agent_templates as templates
from scheduler.agent import LaunchdAgent, SystemdAgent, TaskSchedulerAgent, agent_command, agent_for
from scheduler.nightly import NightlyScheduler
from tests.conftest import run_cli

TASK_NS = {"t": "http://schemas.microsoft.com/windows/2004/02/mit/task"}


@pytest.fixture
def config_home(tmp_path, monkeypatch):
    """A private XDG config dir, and no user bus: tests never touch the real systemd."""
    config = tmp_path / "config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config))
    monkeypatch.delenv("DBUS_SESSION_BUS_ADDRESS", raising=False)
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return config


def out(result) -> str:
    return result.stdout.decode()


def test_cli_install_writes_valid_systemd_units_and_uninstall_removes_them(nocturne_home, config_home):
    units = config_home / "systemd" / "user"
    env = {"XDG_CONFIG_HOME": str(config_home)}
    assert run_cli("learning", "at", "02:45", home=nocturne_home, env=env).returncode == 0

    installed = run_cli("agent", "install", home=nocturne_home, env=env)
    assert installed.returncode == 0, installed.stderr.decode()
    service, timer = units / "nocturne-learn.service", units / "nocturne-learn.timer"
    assert f"wrote {service}" in out(installed)
    # No user bus here: the files stay and the user is told the command to run.
    assert "systemctl --user daemon-reload && systemctl --user enable --now nocturne-learn.timer" \
        in installed.stderr.decode()
    assert "OnCalendar=*-*-* 02:45:00" in timer.read_text()
    assert "Persistent=true" in timer.read_text()
    exec_line = next(l for l in service.read_text().splitlines() if l.startswith("ExecStart="))
    assert exec_line.endswith(f"--home {nocturne_home} learn --scheduled")
    assert oct(service.stat().st_mode & 0o777) == "0o600"

    if shutil.which("systemd-analyze"):
        check = subprocess.run(["systemd-analyze", "verify", str(timer), str(service)],
                               capture_output=True, text=True, timeout=60)
        complaints = [l for l in check.stderr.splitlines() if "nocturne-learn" in l]
        assert check.returncode == 0 and complaints == [], check.stderr

    status = run_cli("agent", "status", home=nocturne_home, env=env)
    assert "installed: systemd user timer" in out(status)
    learning = run_cli("learning", "status", home=nocturne_home, env=env)
    assert "by the systemd user timer" in out(learning)
    assert "Agent: installed" in out(learning)

    # Moving the time rewrites the installed timer.
    assert run_cli("learning", "at", "05:10", home=nocturne_home, env=env).returncode == 0
    assert "OnCalendar=*-*-* 05:10:00" in timer.read_text()

    removed = run_cli("agent", "uninstall", home=nocturne_home, env=env)
    assert removed.returncode == 0 and f"removed {timer}" in out(removed)
    assert not service.exists() and not timer.exists()
    assert "not installed" in out(run_cli("agent", "status", home=nocturne_home, env=env))
    again = run_cli("agent", "uninstall", home=nocturne_home, env=env)
    assert "nothing to remove" in out(again)


def test_systemd_quoting_survives_spaces_and_percent_signs(tmp_path):
    home = tmp_path / "My Data 100%"
    text = templates.systemd_service(agent_command(home), {"LD_PRELOAD": "/a b/libblas.so"})
    assert '"--home"' not in text and f'"{str(home).replace("%", "%%")}"' in text
    assert 'Environment="LD_PRELOAD=/a b/libblas.so"' in text


def test_macos_plist_round_trips(app, config_home):
    agent = agent_for(app.home, platform="darwin")
    assert isinstance(agent, LaunchdAgent)
    (path, content), = agent.render("03:30").items()
    assert path.name == "org.nocturne.learn.plist" and path.parent.name == "LaunchAgents"
    plist = plistlib.loads(content)
    assert plist["Label"] == "org.nocturne.learn"
    assert plist["StartCalendarInterval"] == {"Hour": 3, "Minute": 30}
    assert plist["ProgramArguments"] == agent_command(app.home)
    assert plist["ProgramArguments"][-2:] == ["learn", "--scheduled"]
    assert plist["StandardOutPath"].startswith(str(app.home))
    assert plistlib.loads(plistlib.dumps(plist)) == plist


def test_windows_task_xml_has_the_trigger_and_command(app, tmp_path):
    agent = agent_for(app.home, platform="win32")
    assert isinstance(agent, TaskSchedulerAgent)
    (path, content), = agent.render("01:05").items()
    assert path.is_relative_to(app.home)
    root = ET.fromstring(content)  # UTF-16 bytes with a matching declaration
    trigger = root.find("t:Triggers/t:CalendarTrigger", TASK_NS)
    assert trigger.find("t:StartBoundary", TASK_NS).text.endswith("T01:05:00")
    assert trigger.find("t:ScheduleByDay/t:DaysInterval", TASK_NS).text == "1"
    settings = root.find("t:Settings", TASK_NS)
    assert settings.find("t:StartWhenAvailable", TASK_NS).text == "true"  # catch-up
    assert settings.find("t:DisallowStartIfOnBatteries", TASK_NS).text == "true"
    command = agent_command(app.home)
    assert root.find("t:Actions/t:Exec/t:Command", TASK_NS).text == command[0]
    arguments = root.find("t:Actions/t:Exec/t:Arguments", TASK_NS).text
    assert arguments.endswith("learn --scheduled") and str(app.home) in arguments


def test_with_the_agent_installed_the_in_app_trigger_stands_down(app, config_home):
    scheduler = NightlyScheduler(app)
    scheduler.start()
    try:
        assert scheduler.next_run_time() is not None
        agent = SystemdAgent(app.home)
        assert agent.install("03:00") is not None  # not activated here, but installed
        assert agent.installed()
        scheduler.apply_settings()
        assert scheduler.next_run_time() is None
        assert "system agent" in scheduler.last_decision
        assert scheduler.catch_up_if_missed() is False
        # Another data folder's agent is not ours.
        assert not SystemdAgent(app.home / "other").installed()
        agent.uninstall()
        scheduler.apply_settings()
        assert scheduler.next_run_time() is not None
    finally:
        scheduler.shutdown()
