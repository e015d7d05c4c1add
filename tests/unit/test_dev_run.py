"""``make run``'s folders: each data folder its own var folder, so two runs never share one."""

from pathlib import Path

from vitalbridge.dev import run


def test_the_default_data_folder_keeps_var(monkeypatch):
    monkeypatch.delenv("VITALBRIDGE_VAR", raising=False)
    assert run.var_folder(run.DEFAULT_PGDATA.resolve()) == run.ROOT / "var"


def test_another_data_folder_gets_a_var_folder_beside_it(monkeypatch):
    monkeypatch.delenv("VITALBRIDGE_VAR", raising=False)
    assert run.var_folder(Path("/srv/dev/pgdata-b")) == Path("/srv/dev/pgdata-b.var")
    assert run.var_folder(Path("/srv/a/pgdata")) != run.var_folder(Path("/srv/b/pgdata"))


def test_vitalbridge_var_wins(monkeypatch, tmp_path):
    monkeypatch.setenv("VITALBRIDGE_VAR", str(tmp_path / "mine"))
    assert run.var_folder(Path("/srv/dev/pgdata-b")) == tmp_path / "mine"
