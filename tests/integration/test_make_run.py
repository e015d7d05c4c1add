"""``make run``'s supervisor on a fresh data folder: ready in 60 s, relay running, clean stop;
the README's "Try it" run as written against it; two runs side by side on one host.

This is acceptance 1 short of the venv step (which `make test` itself has just done).
"""

import fcntl
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import psutil
import psycopg
import pytest

ROOT = Path(__file__).resolve().parents[2]
READY_WITHIN_SECONDS = 60
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Run:
    """One ``make run`` supervisor, on its own port and data folder."""

    folder: Path
    port: int
    process: subprocess.Popen

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def pgdata(self):
        return self.folder / "pgdata"

    @property
    def var(self):  # beside the data folder: no VITALBRIDGE_VAR is given
        return self.folder / "pgdata.var"

    @property
    def log(self):
        return self.folder / "run.log"


def start_run(folder):
    """Start the supervisor as ``PORT=... VITALBRIDGE_PGDATA=... make run`` would."""
    folder.mkdir(parents=True)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "FLASK_APP", "VITALBRIDGE_VAR", "GUNICORN_CONTROL_SOCKET"}}
    env.update(PORT=str(port), VITALBRIDGE_PGDATA=str(folder / "pgdata"), WEB_CONCURRENCY="2")
    with (folder / "run.log").open("w") as log:  # a file: a full pipe would stall the run
        process = subprocess.Popen([sys.executable, "-m", "vitalbridge.dev.run"], cwd=ROOT,
                                   env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    return Run(folder, port, process)


def stop_run(run):
    """SIGTERM, as Ctrl-C would; returns the run's output."""
    if run.process.poll() is None:
        run.process.send_signal(signal.SIGTERM)
    run.process.wait(timeout=60)
    return run.log.read_text()


def get(url, key=None):
    request = urllib.request.Request(url)
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_until_ready(run):
    deadline = time.monotonic() + READY_WITHIN_SECONDS
    while time.monotonic() < deadline:
        assert run.process.poll() is None, "make run's supervisor exited early"
        try:
            if get(f"{run.base}/health/ready")[0] == 200:
                return time.monotonic()
        except OSError:
            pass
        time.sleep(0.5)
    pytest.fail(f"/health/ready did not answer 200 within {READY_WITHIN_SECONDS} s")


def postgres_running(pgdata):
    return any(p.info["name"] == "postgres" and str(pgdata) in " ".join(p.info["cmdline"] or [])
               for p in psutil.process_iter(attrs=["name", "cmdline"]))


def wait_for_empty_outbox(pgdata, seconds=15):
    deadline = time.monotonic() + seconds
    with psycopg.connect(host=str(pgdata), user="postgres", dbname="vitalbridge") as conn:
        while time.monotonic() < deadline:
            undelivered = conn.execute(
                "SELECT count(*) FROM outbox WHERE delivered_at IS NULL").fetchone()[0]
            total = conn.execute("SELECT count(*) FROM outbox").fetchone()[0]
            conn.rollback()
            if total > 0 and undelivered == 0:
                return True
            time.sleep(0.3)
    return False


def metrics_of(run):
    with urllib.request.urlopen(f"{run.base}/metrics", timeout=5) as response:
        return response.read().decode()


def requests_counted(metrics, url_rule):
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("flask_http_request_duration_seconds_count{")
               and f'url_rule="{url_rule}"' in line)


def assert_metrics_add_up_across_workers(run, requests):
    for _ in range(requests):
        get(f"{run.base}/health/live")
    # Two workers share the load; only multiprocess aggregation sees every request.
    assert requests_counted(metrics_of(run), "/health/live") >= requests


# The README's "Try it" -----------------------------------------------------------------


def readme_session(run):
    """The shell blocks of the README's "Try it" section, as one terminal session (later
    blocks use the variables of earlier ones), for this run's port and folders."""
    text = (ROOT / "README.md").read_text()
    section = text.split("## Try it", 1)[1].split("\n## ", 1)[0]
    script = "\n".join(re.findall(r"```sh\n(.*?)```", section, flags=re.DOTALL))
    for written in ("127.0.0.1:5000", "var/demo-admin-key", "$PWD/.pgdata"):
        assert written in script, f"the README no longer says {written}: adapt this test"
    return (script.replace("127.0.0.1:5000", f"127.0.0.1:{run.port}")
            .replace("var/demo-admin-key", str(run.var / "demo-admin-key"))
            .replace("$PWD/.pgdata", str(run.pgdata)))


def run_readme_session(run):
    """Run it with bash -e; every curl also writes "METHOD URL STATUS" to a file of its
    own (fd 3), apart from what the README shows and pipes. Returns (answers, output)."""
    statuses = run.folder / "statuses"
    script = readme_session(run)
    recording = (f"exec 3>{shlex.quote(str(statuses))}\n"
                 "curl() { command curl -w '%{stderr}%{method} %{url_effective} %{http_code}\\n'"
                 ' "$@" 2>&3; }\n')
    result = subprocess.run(["bash", "-e", "-o", "pipefail", "-c", recording + script],
                            cwd=ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    answers = [line.split(" ") for line in statuses.read_text().splitlines()]
    assert len(answers) >= len(re.findall(r"\bcurl -", script)), answers  # every curl ran
    return answers, result.stdout


# What the README promises of its booking steps, besides a 2xx for every request.
BOOKING_STEPS = [
    ("POST", r"/api/v1/api-keys/{id}/revoke", "200"),
    ("PUT", r"/api/v1/providers/{id}/working-hours", "200"),
    ("POST", r"/api/v1/appointments", "201"),
    ("POST", r"/api/v1/appointments/{id}/reschedule", "200"),
    ("POST", r"/api/v1/appointments/{id}/cancel", "200"),
    ("GET", r"/api/v1/patients/{id}/summary", "200"),
]


def assert_the_readme_tells_the_truth(run):
    answers, output = run_readme_session(run)
    assert all(status in {"200", "201"} for _, _, status in answers), answers
    paths = [(method, url.removeprefix(run.base).split("?")[0], status)
             for method, url, status in answers]
    for method, path, status in BOOKING_STEPS:
        pattern = re.compile(path.format(id=UUID))
        assert any(m == method and pattern.fullmatch(p) and s == status
                   for m, p, s in paths), (method, path, status, paths)
    # The replay: the same answer again, marked, and the secret in the first one only.
    assert output.count("Idempotent-Replayed: true") == 1, output
    assert output.count('"key":"vbk_') == 1, output
    # Both cardiologists have free slots once Dr Durand has working hours.
    availability, _ = json.JSONDecoder().raw_decode(output, output.index('{"duration"'))
    assert [bool(p["slots"]) for p in availability["providers"]] == [True, True]
    # The cancelled visit is still ahead: not counted in "recent" yet.
    assert re.search(r'"recent":\{"cancellations":0,', output), output


# The tests -----------------------------------------------------------------------------


@pytest.mark.slow
def test_make_run_serves_seeds_relays_and_stops_everything(tmp_path):
    run = start_run(tmp_path / "run")
    try:
        wait_until_ready(run)
        key = (run.var / "demo-admin-key").read_text().strip()
        status, body = get(f"{run.base}/api/v1/api-keys", key)
        assert status == 200
        assert body["items"][0]["role"] == "admin"
        assert postgres_running(run.pgdata)
        assert len((run.folder / "pgdata.pepper").read_text().strip()) >= 40  # a random pepper
        assert wait_for_empty_outbox(run.pgdata), "the relay did not deliver the seed"
        assert_metrics_add_up_across_workers(run, requests=40)
        assert_the_readme_tells_the_truth(run)
    finally:
        output = stop_run(run)
    assert run.process.returncode == 0, output
    assert "Demo clinic 'demo' is ready" in output
    assert "outbox relay" in output
    assert not postgres_running(run.pgdata), "embedded PostgreSQL left running"


@pytest.mark.slow
def test_two_runs_on_one_host_serve_side_by_side(tmp_path):
    runs = [start_run(tmp_path / name) for name in ("a", "b")]
    try:
        for run in runs:
            wait_until_ready(run)
        keys = [(run.var / "demo-admin-key").read_text().strip() for run in runs]
        for run, key in zip(runs, keys, strict=True):
            assert get(f"{run.base}/api/v1/api-keys", key)[0] == 200
        assert get(f"{runs[0].base}/api/v1/api-keys", keys[1])[0] == 401  # b's clinic, not a's
        for _ in range(25):
            get(f"{runs[0].base}/health/live")
        # Each /metrics counts its own workers only: no shared metrics folder.
        assert requests_counted(metrics_of(runs[0]), "/health/live") >= 25
        assert requests_counted(metrics_of(runs[1]), "/health/live") == 0
    finally:
        outputs = [stop_run(run) for run in runs]
    for run, output in zip(runs, outputs, strict=True):
        assert run.process.returncode == 0, output
        assert "Control socket" not in output  # gunicorn's default one is per user
        assert not postgres_running(run.pgdata), "embedded PostgreSQL left running"


def test_a_second_run_on_a_var_folder_in_use_refuses_before_starting_anything(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "FLASK_APP"}}
    env.update(PORT=str(free_port()), VITALBRIDGE_PGDATA=str(tmp_path / "pgdata"),
               VITALBRIDGE_VAR=str(var))
    with (var / "make-run.lock").open("a+") as lock:  # as a running make run holds it
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.write("4242\n")
        lock.flush()
        process = subprocess.Popen([sys.executable, "-m", "vitalbridge.dev.run"], cwd=ROOT,
                                   env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:  # it started after all: stop it as Ctrl-C would
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
            pytest.fail("a second run started on a var folder in use")
    assert process.returncode == 1
    assert f"Another make run (pid 4242) uses {var}" in stderr
    assert not (tmp_path / "pgdata").exists(), "it started PostgreSQL anyway"
