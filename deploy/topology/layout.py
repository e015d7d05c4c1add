"""Where the local topology keeps everything, and the ports it listens on.

One state folder (``var/topology/`` by default, git-ignored) holds the two PostgreSQL
data directories, the generated settings file, certificate and nginx configuration,
every log and every pid file: ``make topology-down`` removes nothing else, and a new
``make topology`` starts from an empty folder.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_STATE = ROOT / "var" / "topology"
DATABASE = "vitalbridge"
OWNER, APP_ROLE, RELAY_ROLE = "vitalbridge_owner", "vitalbridge_app", "vitalbridge_relay"
WEB_INSTANCES = ("web-1", "web-2")
RELAY_INSTANCES = ("relay-1", "relay-2")
SCHEDULER_INSTANCES = ("scheduler-1", "scheduler-2")


@dataclass(frozen=True)
class Ports:
    """TCP ports on 127.0.0.1 (TOPOLOGY_PORT_BASE moves them all)."""

    base: int

    @property
    def primary(self) -> int:
        return self.base

    @property
    def replica(self) -> int:
        return self.base + 1

    @property
    def restored(self) -> int:
        """A database restored from the backups, beside the running pair."""
        return self.base + 2

    @property
    def web(self) -> tuple[int, int]:
        return self.base + 11, self.base + 12

    @property
    def https(self) -> int:
        return self.base + 43

    @property
    def http(self) -> int:
        return self.base + 80


@dataclass(frozen=True)
class Layout:
    """The state folder's paths."""

    state: Path
    ports: Ports

    @property
    def primary_data(self) -> Path:
        return self.state / "pg" / "primary"

    @property
    def replica_data(self) -> Path:
        return self.state / "pg" / "replica"

    def restored_data(self, name: str) -> Path:
        """A fresh data directory for a restore (beside the pair's, owned by the server user)."""
        return self.state / "pg" / f"restored-{name}"

    @property
    def backup(self) -> Path:
        """pgBackRest's configuration, repository, logs, locks and spool."""
        return self.state / "backup"

    @property
    def pg_socket_dir(self) -> Path:
        return self.state / "pg"

    @property
    def etc(self) -> Path:
        """Stands for /etc/vitalbridge: the settings file the units read."""
        return self.state / "etc"

    @property
    def env_file(self) -> Path:
        return self.etc / "env"

    @property
    def run(self) -> Path:
        """Stands for /run: one runtime directory per unit instance."""
        return self.state / "run"

    @property
    def logs(self) -> Path:
        return self.state / "log"

    @property
    def pids(self) -> Path:
        return self.state / "pid"

    @property
    def nginx(self) -> Path:
        return self.state / "nginx"

    @property
    def api_key_file(self) -> Path:
        return self.state / "demo-admin-key"

    @property
    def url_file(self) -> Path:
        return self.state / "url"

    @property
    def certificate(self) -> Path:
        return self.nginx / "cert.pem"

    @property
    def private_key(self) -> Path:
        return self.nginx / "key.pem"

    @property
    def url(self) -> str:
        return f"https://localhost:{self.ports.https}"

    def log(self, name: str) -> Path:
        return self.logs / f"{name}.log"


def layout() -> Layout:
    """The layout from TOPOLOGY_STATE and TOPOLOGY_PORT_BASE (or their defaults)."""
    state = Path(os.environ.get("TOPOLOGY_STATE", DEFAULT_STATE)).resolve()
    return Layout(state=state, ports=Ports(int(os.environ.get("TOPOLOGY_PORT_BASE", "17400"))))
