"""The long-running processes freeze what loading the app left alive (vitalbridge/heap.py):
later full collections then skip it, instead of stalling every thread for tens of ms."""

import gc
import runpy
import signal
from pathlib import Path

import pytest

from vitalbridge.messaging.relay import Relay
from vitalbridge.scheduler import Scheduler

GUNICORN_CONF = Path(__file__).resolve().parents[2] / "deploy" / "gunicorn.conf.py"


@pytest.fixture
def thawed():
    """No frozen objects before the test, none left after it for the tests that follow."""
    gc.unfreeze()
    yield
    gc.unfreeze()


@pytest.mark.parametrize(("command", "runner"), [(("outbox", "relay"), Relay),
                                                  (("scheduler", "run"), Scheduler)])
def test_a_background_command_runs_with_the_loaded_app_frozen(app, monkeypatch, thawed,
                                                              command, runner):
    monkeypatch.setattr(signal, "signal", lambda *_: None)  # keep pytest's handlers
    seen = []
    monkeypatch.setattr(runner, "run", lambda *_args, **_kw: seen.append(gc.get_freeze_count()))
    result = app.test_cli_runner().invoke(args=list(command))
    assert result.exit_code == 0, result.output
    assert len(seen) == 1
    assert seen[0] > 10_000


def test_a_web_worker_freezes_once_it_has_loaded_the_app(thawed):
    hooks = runpy.run_path(str(GUNICORN_CONF))
    assert gc.get_freeze_count() == 0
    hooks["post_worker_init"](worker=None)
    assert gc.get_freeze_count() > 10_000
