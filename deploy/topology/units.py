"""The systemd units of deploy/ read and run as systemd would, without systemd.

Only what the shipped units use is understood: WorkingDirectory, EnvironmentFile,
Environment, UnsetEnvironment, RuntimeDirectory, ExecStartPre and ExecStart. Their
absolute paths are moved into the topology's state folder (/opt/vitalbridge is the
repository, /etc/vitalbridge and /run/<unit> are folders of the state), so the command
lines and settings that run here are the units' own.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from deploy.topology.layout import ROOT, Layout

INSTALL_DIR = "/opt/vitalbridge"
SETTINGS_DIR = "/etc/vitalbridge"
# What systemd gives a service before its own settings: no caller's environment.
BASE_ENVIRONMENT = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}


@dataclass
class Unit:
    """The [Service] settings of one unit file, in file order."""

    name: str
    settings: list[tuple[str, str]] = field(default_factory=list)

    def values(self, key: str) -> list[str]:
        return [value for k, value in self.settings if k == key]

    def value(self, key: str) -> str | None:
        found = self.values(key)
        return found[-1] if found else None


@dataclass(frozen=True)
class Service:
    """One instance of a unit, ready to start: its commands, environment and folder."""

    instance: str
    pre_commands: list[list[str]]
    command: list[str]
    environment: dict[str, str]
    cwd: Path


def read_unit(path: Path) -> Unit:
    """Parse the [Service] section of a unit file (comments and other sections skipped)."""
    unit, section = Unit(path.stem), ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line
            continue
        if section == "[Service]":
            key, _, value = line.partition("=")
            unit.settings.append((key.strip(), value.strip()))
    return unit


def service(unit: Unit, instance: str, layout: Layout, overrides: dict[str, str]) -> Service:
    """The unit as instance ``instance`` of the topology runs it.

    ``overrides`` play the part of a drop-in (``systemctl edit``): per-instance values
    such as GUNICORN_BIND, applied after the unit's Environment= lines and its
    EnvironmentFile=, as they must not be in the shared settings file.
    """
    move = _path_mover(unit, instance, layout)
    environment = dict(BASE_ENVIRONMENT)
    for assignment in unit.values("Environment"):
        for word in shlex.split(assignment):
            key, _, value = word.partition("=")
            environment[key] = move(value)
    for env_file in unit.values("EnvironmentFile"):
        environment.update(read_environment_file(Path(move(env_file.lstrip("-")))))
    environment.update(overrides)
    for name in unit.values("UnsetEnvironment"):
        environment.pop(name, None)
    pre = [[move(word) for word in shlex.split(line)] for line in unit.values("ExecStartPre")]
    start = unit.value("ExecStart")
    if start is None:
        raise ValueError(f"{unit.name} has no ExecStart=")
    cwd = Path(move(unit.value("WorkingDirectory") or INSTALL_DIR))
    return Service(instance=instance, pre_commands=pre,
                   command=[move(word) for word in shlex.split(start)],
                   environment=environment, cwd=cwd)


def read_environment_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines as systemd's EnvironmentFile= reads them (# comments skipped)."""
    values = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if line and not line.startswith(("#", ";")) and "=" in line:
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip().strip('"')
    return values


def _path_mover(unit: Unit, instance: str, layout: Layout) -> Callable[[str], str]:
    """A function moving the unit's absolute paths into the state folder."""
    runtime = [f"/run/{name}" for name in (unit.value("RuntimeDirectory") or "").split()]
    moves = [(INSTALL_DIR, str(ROOT)),
             (SETTINGS_DIR, str(layout.etc)),
             *((folder, str(layout.run / instance)) for folder in runtime)]

    def move(word: str) -> str:
        for old, new in moves:
            if word == old or word.startswith(old + "/"):
                return new + word[len(old):]
        return word

    return move
