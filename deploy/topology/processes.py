"""The topology's long-running processes: started detached, each in a process group of
its own (so a signal reaches gunicorn's workers too), with a pid file and a log file in
the state folder; stopped by those pid files, whatever process started them."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from pathlib import Path

from deploy.topology.layout import Layout
from deploy.topology.units import Service


def start(service: Service, layout: Layout) -> int:
    """Run the service's ExecStartPre= lines, then start its ExecStart= detached."""
    for pre in service.pre_commands:
        subprocess.run(pre, check=True, env=service.environment, cwd=service.cwd)
    layout.logs.mkdir(parents=True, exist_ok=True)
    layout.pids.mkdir(parents=True, exist_ok=True)
    with layout.log(service.instance).open("ab") as log:
        process = subprocess.Popen(service.command, env=service.environment, cwd=service.cwd,
                                   stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                   start_new_session=True)
    pid_file(layout, service.instance).write_text(f"{process.pid}\n")
    return process.pid


def pid_file(layout: Layout, instance: str) -> Path:
    return layout.pids / f"{instance}.pid"


def pid_of(layout: Layout, instance: str) -> int | None:
    """The recorded pid of ``instance`` if that process still runs."""
    path = pid_file(layout, instance)
    if not path.exists():
        return None
    pid = int(path.read_text().split()[0])
    return pid if alive(pid) else None


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours counts as gone once reaped)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)  # reap it if it is our own dead child
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(pid)


def kill_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group ``pid`` leads (the service and its children)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def stop(layout: Layout, instance: str, grace: float = 15) -> None:
    """SIGTERM the instance's process group, SIGKILL it after ``grace`` seconds."""
    path = pid_file(layout, instance)
    if not path.exists():
        return
    pid = int(path.read_text().split()[0])
    kill_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while group_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    kill_group(pid, signal.SIGKILL)
    while group_alive(pid):
        time.sleep(0.05)
    path.unlink()


def group_alive(pgid: int) -> bool:
    """Whether any live process is left in group ``pgid`` (zombies do not count)."""
    alive(pgid)  # reaps the leader if it was our child
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                fields = stat[stat.rindex(")") + 2:].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    return True
    return False


# /proc/net/tcp's states of a socket some process still holds open on its side:
# ESTABLISHED, CLOSE_WAIT (the peer has closed, we have not) and LISTEN. Once every file
# of a socket is closed, the kernel moves it on (FIN_WAIT, LAST_ACK, TIME_WAIT, CLOSE).
_HELD_STATES = {"01", "08", "0A"}


def port_held(port: int) -> bool:
    """Whether any socket is still open on local TCP ``port`` (listening or connected).

    A process is gone from /proc's list before its sockets are closed: SIGKILL ends a
    multithreaded process's leader first, and its other threads close the files after
    they have torn the memory down (tens of ms seen on a busy machine). Until then the
    port still accepts and reads requests that nobody will answer.
    """
    wanted = f":{port:04X}"
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError):
            for line in Path(table).read_text().splitlines()[1:]:
                fields = line.split()
                if fields[1].endswith(wanted) and fields[3] in _HELD_STATES:
                    return True
    return False


def _zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2:].split()[0] == "Z"
