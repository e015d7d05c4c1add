"""``PYTHON=... make`` chooses the interpreter of .venv, also once .venv exists.

The Makefile is run in a copy of the project with no requirements, so that only the
virtualenv's making is under test (a few seconds per interpreter).
"""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
INSTALLATION = "import os, sys; print(os.path.realpath(sys.base_prefix))"


def ask(python, code):
    """What ``python -c code`` prints, or None if it cannot run."""
    try:
        result = subprocess.run([str(python), "-c", code], capture_output=True, text=True,
                                timeout=30, check=False)
    except OSError:  # no such file
        return None
    return result.stdout.strip() if result.returncode == 0 else None


def installation_of(python):
    """The Python installation ``python`` belongs to (a venv's: the one it was made from)."""
    return ask(python, INSTALLATION)


def version_of(python):
    version = ask(python, "import sys; print(*sys.version_info[:2])")
    return tuple(map(int, version.split())) if version else None


def interpreters():
    """One interpreter per Python installation found on this host: {installation: path}."""
    candidates = [sys.executable, "/usr/bin/python3", "/usr/local/bin/python3",
                  *(shutil.which(f"python3.{minor}") for minor in range(8, 16)),
                  *map(str, Path.home().glob(".pyenv/versions/*/bin/python3"))]
    found = {}
    for candidate in filter(None, candidates):
        installation = installation_of(candidate)
        if installation and version_of(candidate):
            found.setdefault(installation, candidate)
    return found


def supported(count):
    chosen = [python for python in interpreters().values() if version_of(python) >= (3, 11)]
    if len(chosen) < count:
        pytest.skip(f"needs {count} Python installations of 3.11 or newer on this host")
    return chosen[:count]


def project(tmp_path):
    shutil.copy(ROOT / "Makefile", tmp_path)
    for name in ("requirements.txt", "requirements-dev.txt"):
        (tmp_path / name).write_text("# nothing to install: only the venv is under test\n")
    return tmp_path


def make_venv(folder, python=None):
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHON", "MAKEFLAGS", "MAKELEVEL"}}
    if python:
        env["PYTHON"] = python
    return subprocess.run(["make", "--no-print-directory", ".venv/.installed"], cwd=folder,
                          env=env, capture_output=True, text=True, timeout=180, check=False)


def test_a_python_given_to_make_replaces_a_venv_made_with_another(tmp_path):
    first, second = supported(2)
    folder = project(tmp_path)
    venv_python = folder / ".venv" / "bin" / "python"
    assert make_venv(folder, first).returncode == 0
    assert installation_of(venv_python) == installation_of(first)

    made = make_venv(folder, second)
    assert made.returncode == 0, made.stdout + made.stderr
    assert installation_of(venv_python) == installation_of(second)

    again = make_venv(folder, second)  # the same one again: nothing to do
    assert "rm -rf" not in again.stdout
    kept = make_venv(folder)  # no PYTHON: the default python3 never replaces a venv
    assert "rm -rf" not in kept.stdout
    assert installation_of(venv_python) == installation_of(second)


def test_a_python_too_old_is_refused_and_the_venv_kept(tmp_path):
    (current,) = supported(1)
    old = [python for python in interpreters().values() if version_of(python) < (3, 11)]
    if not old:
        pytest.skip("needs a Python older than 3.11 on this host")
    folder = project(tmp_path)
    assert make_venv(folder, current).returncode == 0
    refused = make_venv(folder, old[0])
    assert refused.returncode != 0
    assert "VitalBridge needs Python 3.11 or newer" in refused.stdout
    assert installation_of(folder / ".venv" / "bin" / "python") == installation_of(current)
