"""`nocturne agent`: register the headless learning job with the OS scheduler, so the night runs
even when the app is closed (systemd user timer, launchd agent, Task Scheduler task).

With the agent installed for a data folder, the in-app trigger stands down for it: one night,
one run. The files name the data folder (`--home`), which is how `installed()` tells whose they are.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

from app.paths import subdir
from app.self_command import is_bundle, nocturne_argv
from scheduler import agent_templates as templates
from scheduler.child import LOG_FILE, learn_env_additions


def agent_command(home: Path) -> list[str]:
    """The headless job's argv: the bundle's own executable, the installed `nocturne`, or else
    this Python -m app.cli.main."""
    if is_bundle():
        return nocturne_argv() + ["--home", str(home), "learn", "--scheduled"]
    sibling = Path(sys.executable).with_name("nocturne")
    program = str(sibling) if sibling.is_file() else shutil.which("nocturne")
    base = [program] if program else nocturne_argv()
    return base + ["--home", str(home), "learn", "--scheduled"]


def _run(argv: list[str]) -> str | None:
    """Run an OS scheduler command; None on success, else one line saying what went wrong."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"`{' '.join(argv)}` could not run ({exc})"
    if done.returncode != 0:
        detail = (done.stderr or done.stdout).strip().splitlines()
        return f"`{' '.join(argv)}` failed: {detail[-1] if detail else f'exit {done.returncode}'}"
    return None


class Agent:
    """One platform's registration. Subclasses say which files and how to (de)activate them."""

    kind = "agent"

    def __init__(self, home: Path):
        self.home = Path(home)

    def render(self, learning_time: str) -> dict[Path, bytes]:
        """The files to write, by path."""
        raise NotImplementedError

    def files(self) -> list[Path]:
        return list(self.render("03:00"))

    def activate(self) -> str | None:
        """Tell the OS about the written files; None on success, else why not (files stay)."""
        return None

    def deactivate(self) -> None:
        """Tell the OS to forget the job (best effort: the files are removed anyway)."""

    def activation_hint(self) -> str:
        return ""

    def install(self, learning_time: str) -> str | None:
        """Write the files (owner-only) and activate them.

        Args:
            learning_time: HH:MM, local.

        Returns:
            None when the OS scheduler took the job, else one sentence on what to run by hand.
        """
        for path, content in self.render(learning_time).items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".partial")
            fd = os.open(tmp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
            os.replace(tmp, path)  # an old registration is never left half-rewritten
        return self.activate()

    def uninstall(self) -> list[Path]:
        """Deactivate and delete the files; returns the files that were removed."""
        if any(path.exists() for path in self.files()):
            self.deactivate()
        removed = []
        for path in self.files():
            if path.exists():
                path.unlink()
                removed.append(path)
        return removed

    def installed(self) -> bool:
        """True when this agent's files exist and run this data folder's job."""
        paths = self.files()
        if not paths or not all(path.is_file() for path in paths):
            return False
        text = self._read(paths[0])
        return str(self.home) in text or escape(str(self.home)) in text

    def _read(self, path: Path) -> str:
        return path.read_text(encoding="utf-8", errors="replace")


class SystemdAgent(Agent):
    kind = "systemd user timer"

    @property
    def unit_dir(self) -> Path:
        config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
        return Path(config) / "systemd" / "user"

    def render(self, learning_time: str) -> dict[Path, bytes]:
        name = templates.SYSTEMD_NAME
        service = templates.systemd_service(agent_command(self.home), learn_env_additions())
        return {
            self.unit_dir / f"{name}.service": service.encode(),
            self.unit_dir / f"{name}.timer": templates.systemd_timer(learning_time).encode(),
        }

    def activation_hint(self) -> str:
        return (f"systemctl --user daemon-reload && systemctl --user enable --now "
                f"{templates.SYSTEMD_NAME}.timer")

    @staticmethod
    def user_bus() -> bool:
        """Whether a systemd user manager is reachable (not in containers, CI, ssh without linger)."""
        runtime = os.environ.get("XDG_RUNTIME_DIR")
        return bool(os.environ.get("DBUS_SESSION_BUS_ADDRESS")) or bool(
            runtime and (Path(runtime) / "bus").exists()
        )

    def activate(self) -> str | None:
        if shutil.which("systemctl") is None or not self.user_bus():
            return "no systemd user session is reachable from here"
        return (_run(["systemctl", "--user", "daemon-reload"])
                or _run(["systemctl", "--user", "enable", "--now", f"{templates.SYSTEMD_NAME}.timer"]))

    def deactivate(self) -> None:
        if shutil.which("systemctl") and self.user_bus():
            _run(["systemctl", "--user", "disable", "--now", f"{templates.SYSTEMD_NAME}.timer"])


class LaunchdAgent(Agent):
    kind = "launchd agent"

    @property
    def path(self) -> Path:
        return Path.home() / "Library" / "LaunchAgents" / f"{templates.LAUNCHD_LABEL}.plist"

    def render(self, learning_time: str) -> dict[Path, bytes]:
        log = str(self.home / "logs" / LOG_FILE)
        plist = templates.launchd_plist(
            agent_command(self.home), learn_env_additions(), learning_time, log
        )
        return {self.path: plist}

    def activation_hint(self) -> str:
        return f"launchctl bootstrap gui/{os.getuid()} {self.path}"

    def activate(self) -> str | None:
        if shutil.which("launchctl") is None:
            return "launchctl is not available"
        subdir(self.home, "logs")
        target = f"gui/{os.getuid()}"
        _run(["launchctl", "bootout", target, str(self.path)])  # a previous version, if loaded
        return _run(["launchctl", "bootstrap", target, str(self.path)])

    def deactivate(self) -> None:
        if shutil.which("launchctl"):
            _run(["launchctl", "bootout", f"gui/{os.getuid()}", str(self.path)])


class TaskSchedulerAgent(Agent):
    kind = "Task Scheduler task"

    @property
    def path(self) -> Path:
        # Task Scheduler keeps its own copy; ours records what was registered, for this home.
        return self.home / "agent" / "nocturne-learn.xml"

    def render(self, learning_time: str) -> dict[Path, bytes]:
        xml = templates.windows_task_xml(agent_command(self.home), learning_time)
        return {self.path: xml.encode("utf-16")}

    def _read(self, path: Path) -> str:
        return path.read_bytes().decode("utf-16", errors="replace")

    def activation_hint(self) -> str:
        return f'schtasks /Create /TN "{templates.WINDOWS_TASK}" /XML "{self.path}" /F'

    def activate(self) -> str | None:
        if shutil.which("schtasks") is None:
            return "schtasks is not available"
        return _run(["schtasks", "/Create", "/TN", templates.WINDOWS_TASK, "/XML", str(self.path), "/F"])

    def deactivate(self) -> None:
        if shutil.which("schtasks"):
            _run(["schtasks", "/Delete", "/TN", templates.WINDOWS_TASK, "/F"])


def agent_for(home: Path, platform: str | None = None) -> Agent:
    """The agent for this OS (`platform` as in sys.platform)."""
    platform = platform or sys.platform
    if platform == "darwin":
        return LaunchdAgent(home)
    if platform.startswith("win"):
        return TaskSchedulerAgent(home)
    return SystemdAgent(home)


def agent_installed(home: Path) -> bool:
    """Whether the OS agent runs the nightly job for this data folder (the app then stands down)."""
    return agent_for(home).installed()


def refresh_if_installed(home: Path, learning_time: str) -> str | None:
    """Rewrite an installed agent for a new time. Returns a problem sentence, or None."""
    agent = agent_for(home)
    if not agent.installed():
        return None
    problem = agent.install(learning_time)
    if problem:
        return (f"The {agent.kind} was rewritten but not reloaded ({problem}): "
                f"run `{agent.activation_hint()}`.")
    return None
