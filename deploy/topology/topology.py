"""``make topology`` / ``make topology-down``: the production topology on one machine.

Up: a PostgreSQL primary and its streaming replica; the roles, migrations and demo
clinic; when pgbackrest is installed, the primary's WAL archived to an encrypted
repository and a first full backup (deploy/topology/backup.py); two gunicorn
instances, two relays and two schedulers, each started from its systemd unit in
deploy/; nginx with the site of deploy/nginx.conf in front, on TLS.
Down: every process stopped (PostgreSQL with ``pg_ctl -m fast stop``), nothing left.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from deploy.topology import backup, nginx_site, postgres, processes, settings_file, units
from deploy.topology.layout import (
    RELAY_INSTANCES,
    ROOT,
    SCHEDULER_INSTANCES,
    WEB_INSTANCES,
    Layout,
)

UNITS = ROOT / "deploy"
NGINX = "nginx"
# Every process the topology starts carries it: `down` finds a stray one by it.
MARKER = "VITALBRIDGE_TOPOLOGY"


def nginx_binary() -> str | None:
    return shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists()
                                     else None)


def is_up(layout: Layout) -> bool:
    """Whether anything of a topology in ``layout`` still runs."""
    instances = [*WEB_INSTANCES, *RELAY_INSTANCES, *SCHEDULER_INSTANCES, NGINX]
    return (any(processes.pid_of(layout, name) for name in instances)
            or (layout.primary_data / "postmaster.pid").exists()
            or (layout.replica_data / "postmaster.pid").exists())


def up(layout: Layout) -> str:
    """Bring the topology up and return nginx's URL; on any failure, take it down."""
    if is_up(layout):
        print(f"The topology in {layout.state} is already up (make topology-down stops it).")
        return layout.url
    _check_ports_free(layout)
    shutil.rmtree(layout.state, ignore_errors=True)
    layout.state.mkdir(parents=True)
    layout.state.chmod(0o755)  # the server user (postgres) reaches its folders inside
    try:
        cluster = postgres.Cluster(layout, postgres.binaries())
        env = _database(cluster, layout)
        _app_servers(layout)
        _relays_and_schedulers(layout)
        _nginx(layout)
        _wait_ready(layout)
        layout.url_file.write_text(layout.url + "\n")
        print(f"Demo admin key: {layout.api_key_file}; settings: {layout.env_file}; "
              f"logs: {layout.logs}; broker: {env.get('EVENT_BROKER_URL', 'none')}")
        return layout.url
    except BaseException:
        print("make topology failed; stopping what it started.", file=sys.stderr)
        down(layout)
        raise


def down(layout: Layout) -> None:
    """Stop everything of the topology in ``layout``; safe to run again (idempotent)."""
    for name in (NGINX, *WEB_INSTANCES, *RELAY_INSTANCES, *SCHEDULER_INSTANCES):
        processes.stop(layout, name)
    with contextlib.suppress(RuntimeError):
        postgres.stop_both(postgres.Cluster(layout, postgres.binaries()))
    for pid in stray_processes(layout):
        print(f"stopping stray process {pid} of the topology", file=sys.stderr)
        processes.kill_group(pid, processes.signal.SIGKILL)


def stray_processes(layout: Layout) -> list[int]:
    """Live processes that carry this topology's marker in their environment."""
    marker = f"{MARKER}={layout.state}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            with contextlib.suppress(OSError):
                if marker in (entry / "environ").read_bytes().split(b"\0") \
                        and processes.alive(int(entry.name)):
                    found.append(int(entry.name))
    return found


def _database(cluster: postgres.Cluster, layout: Layout) -> dict[str, str]:
    """Primary, roles, replica, settings file, migrations, demo clinic."""
    passwords = settings_file.new_passwords()
    archiving = backup.binary() is not None
    if archiving:
        backup.export_cipher_pass(layout)  # before the primary starts: it runs archive-push
        backup.write_config(layout)
    postgres.create_primary(cluster, backup.archive_settings(layout) if archiving else None)
    postgres.provision(cluster, passwords)
    postgres.create_replica(cluster)
    values = settings_file.settings(layout, passwords)
    settings_file.write(layout.env_file, values)
    env = {**units.BASE_ENVIRONMENT, **values, MARKER: str(layout.state)}
    _flask(env, layout.log("provision"), "db", "upgrade")  # README, Releasing a version, step 2
    postgres.mark_trigram_leakproof(cluster)
    # The demo seed never runs in production: this one command runs as development,
    # with the same database, replica and pepper (it asks its queries of the primary).
    _flask({**env, "VITALBRIDGE_ENV": "development", "VITALBRIDGE_VAR": str(layout.state)},
           layout.log("provision"), "demo", "seed")
    if archiving:
        backup.set_up(layout)
    else:
        print("pgbackrest is not installed: no WAL archive, no backups (apt-get install "
              "pgbackrest)", file=sys.stderr)
    return values


def _flask(env: dict[str, str], log_file: Path, *args: str) -> None:
    """A flask command of the app, its output appended to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        subprocess.run([str(ROOT / ".venv" / "bin" / "flask"), "--app", "wsgi", *args],
                       env=env, cwd=ROOT, check=True, stdout=log, stderr=log)


def unit_service(layout: Layout, unit_name: str, instance: str,
                 overrides: dict[str, str] | None = None) -> units.Service:
    """Instance ``instance`` of deploy/<unit_name>.service, as the topology runs it."""
    unit = units.read_unit(UNITS / f"{unit_name}.service")
    extra = {MARKER: str(layout.state), **(overrides or {})}
    return units.service(unit, instance, layout, extra)


def _app_servers(layout: Layout) -> None:
    for instance, port in zip(WEB_INSTANCES, layout.ports.web, strict=True):
        # The drop-in a second instance on one host needs: its own port.
        processes.start(unit_service(layout, "vitalbridge-web", instance,
                                     {"GUNICORN_BIND": f"127.0.0.1:{port}"}), layout)
    for port in layout.ports.web:
        _wait_http(f"http://127.0.0.1:{port}/health/ready", None)


def _relays_and_schedulers(layout: Layout) -> None:
    for instance in RELAY_INSTANCES:
        processes.start(unit_service(layout, "vitalbridge-relay", instance), layout)
    for instance in SCHEDULER_INSTANCES:
        processes.start(unit_service(layout, "vitalbridge-scheduler", instance), layout)


def nginx_command(layout: Layout) -> list[str]:
    binary = nginx_binary()
    if binary is None:
        raise RuntimeError("nginx is not installed (apt-get install nginx)")
    return [binary, "-p", str(layout.nginx), "-c", str(layout.nginx / "nginx.conf")]


def _nginx(layout: Layout) -> None:
    """Certificate, site and main configuration into the state folder; nginx started."""
    (layout.nginx / "temp").mkdir(parents=True)
    (layout.logs / "nginx").mkdir(parents=True, exist_ok=True)
    nginx_site.self_signed_certificate(layout.certificate, layout.private_key)
    site = layout.nginx / "vitalbridge.conf"
    site.write_text(nginx_site.render_site(nginx_site.SiteParameters(
        https_port=layout.ports.https, http_port=layout.ports.http,
        upstream_ports=layout.ports.web, certificate=layout.certificate,
        private_key=layout.private_key, log_dir=layout.logs / "nginx")))
    (layout.nginx / "nginx.conf").write_text(nginx_site.main_config(layout.nginx, site))
    command = nginx_command(layout)
    subprocess.run([*command, "-t", "-q"], check=True)
    subprocess.run(command, check=True, env={**os.environ, MARKER: str(layout.state)})
    # nginx detaches into a session of its own; keep its master's pid with the others'.
    pid_file = layout.nginx / "nginx.pid"
    _wait(lambda: pid_file.exists(), "nginx's pid file")
    processes.pid_file(layout, NGINX).write_text(pid_file.read_text())


def _wait_ready(layout: Layout) -> None:
    context = ssl.create_default_context(cafile=str(layout.certificate))
    _wait_http(f"{layout.url}/health/ready", context)


def _wait_http(url: str, context: ssl.SSLContext | None, timeout: float = 60) -> None:
    def answers() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2, context=context) as response:  # noqa: S310
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    _wait(answers, url, timeout)


def _wait(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up waiting for {what}")
        time.sleep(0.2)


def _check_ports_free(layout: Layout) -> None:
    ports = layout.ports
    for port in (ports.primary, ports.replica, *ports.web, ports.https, ports.http):
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                raise RuntimeError(f"port {port} is taken: set TOPOLOGY_PORT_BASE")
