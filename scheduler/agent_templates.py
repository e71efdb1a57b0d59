"""The files that register the headless learning job with the OS scheduler the user already has:
a systemd user service + timer (Linux), a launchd agent plist (macOS), a Task Scheduler task XML
(Windows). Pure text generation, so every format is tested on any platform.
"""

from __future__ import annotations

import plistlib
from xml.sax.saxutils import escape

SYSTEMD_NAME = "nocturne-learn"
LAUNCHD_LABEL = "org.nocturne.learn"
WINDOWS_TASK = "Nocturne nightly learning"


def _systemd_quote(arg: str) -> str:
    """One ExecStart/Environment word: specifiers (%) escaped, quoted when it has spaces."""
    arg = arg.replace("%", "%%")
    if any(ch in arg for ch in ' \t"\\\'') or not arg:
        return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return arg


def systemd_service(argv: list[str], env: dict[str, str]) -> str:
    """The oneshot service that runs `nocturne learn --scheduled` once.

    Args:
        argv: the command (absolute program path first).
        env: extra environment (the BLAS preload); the data folder is in argv as --home.

    Returns:
        The unit file's text.
    """
    lines = [
        "[Unit]",
        "Description=Nocturne sleep-time learning (fine-tunes your personal adapter)",
        "",
        "[Service]",
        "Type=oneshot",
        "ExecStart=" + " ".join(_systemd_quote(a) for a in argv),
        # Training is background work: the user's foreground apps come first.
        "Nice=10",
        "IOSchedulingClass=idle",
    ]
    lines += [f"Environment={_systemd_quote(f'{k}={v}')}" for k, v in sorted(env.items())]
    return "\n".join(lines) + "\n"


def systemd_timer(learning_time: str) -> str:
    """The timer: daily at HH:MM; Persistent=true runs a night missed while the machine was off."""
    return "\n".join([
        "[Unit]",
        f"Description=Nocturne nightly learning at {learning_time}",
        "",
        "[Timer]",
        f"OnCalendar=*-*-* {learning_time}:00",
        "Persistent=true",
        f"Unit={SYSTEMD_NAME}.service",
        "",
        "[Install]",
        "WantedBy=timers.target",
    ]) + "\n"


def launchd_plist(argv: list[str], env: dict[str, str], learning_time: str, log_path: str) -> bytes:
    """The launchd agent: StartCalendarInterval runs a job missed during sleep on wake.

    Returns:
        The plist as XML bytes.
    """
    hour, minute = (int(part) for part in learning_time.split(":"))
    agent = {
        "Label": LAUNCHD_LABEL,
        "ProgramArguments": list(argv),
        "StartCalendarInterval": {"Hour": hour, "Minute": minute},
        "ProcessType": "Background",
        "LowPriorityIO": True,
        "Nice": 10,
        "StandardOutPath": log_path,
        "StandardErrorPath": log_path,
    }
    if env:
        agent["EnvironmentVariables"] = dict(env)
    return plistlib.dumps(agent)


def _windows_arguments(args: list[str]) -> str:
    """Windows command-line quoting (the rules CommandLineToArgvW undoes)."""
    import subprocess

    return subprocess.list2cmdline(args)


def windows_task_xml(argv: list[str], learning_time: str) -> str:
    """A Task Scheduler task: daily at HH:MM, started late if missed, not on battery.

    Returns:
        The task XML (schtasks /Create /XML takes it).
    """
    return f"""<?xml version="1.0" encoding="UTF-16"?>
<Task version="1.2" xmlns="http://schemas.microsoft.com/windows/2004/02/mit/task">
  <RegistrationInfo>
    <Description>{escape(WINDOWS_TASK)}: fine-tunes your personal adapter.</Description>
  </RegistrationInfo>
  <Triggers>
    <CalendarTrigger>
      <StartBoundary>2000-01-01T{learning_time}:00</StartBoundary>
      <Enabled>true</Enabled>
      <ScheduleByDay>
        <DaysInterval>1</DaysInterval>
      </ScheduleByDay>
    </CalendarTrigger>
  </Triggers>
  <Settings>
    <MultipleInstancesPolicy>IgnoreNew</MultipleInstancesPolicy>
    <DisallowStartIfOnBatteries>true</DisallowStartIfOnBatteries>
    <StopIfGoingOnBatteries>false</StopIfGoingOnBatteries>
    <StartWhenAvailable>true</StartWhenAvailable>
    <Priority>7</Priority>
    <Enabled>true</Enabled>
  </Settings>
  <Actions Context="Author">
    <Exec>
      <Command>{escape(argv[0])}</Command>
      <Arguments>{escape(_windows_arguments(argv[1:]))}</Arguments>
    </Exec>
  </Actions>
</Task>
"""
