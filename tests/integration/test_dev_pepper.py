"""make run's development pepper: random per data folder, kept, never the published one
for a new folder; and a loud warning wherever the published one is still in use."""

import json

from config.settings import DEV_ONLY_PEPPER
from vitalbridge import create_app
from vitalbridge.dev.pepper import development_pepper, pepper_file


def test_a_new_data_folder_gets_a_random_pepper_it_keeps(tmp_path):
    first = development_pepper(tmp_path / "a" / "pgdata")
    assert len(first) >= 40
    assert first != DEV_ONLY_PEPPER
    assert development_pepper(tmp_path / "a" / "pgdata") == first
    assert development_pepper(tmp_path / "b" / "pgdata") != first
    assert pepper_file(tmp_path / "a" / "pgdata").stat().st_mode & 0o077 == 0


def test_a_data_folder_from_before_keeps_the_pepper_its_keys_were_made_with(tmp_path, capsys):
    pgdata = tmp_path / "pgdata"
    pgdata.mkdir()
    (pgdata / "PG_VERSION").write_text("18\n")
    assert development_pepper(pgdata) == DEV_ONLY_PEPPER
    assert "published development pepper" in capsys.readouterr().out


def _warnings(stderr):
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [r for r in records if r.get("logger") == "vitalbridge.security"]


def test_development_with_the_published_pepper_warns(monkeypatch, capsys, owner_url):
    monkeypatch.delenv("API_KEY_PEPPER", raising=False)
    create_app(database_url=owner_url, env="development").extensions["vitalbridge"].db.dispose()
    [warning] = _warnings(capsys.readouterr().err)
    assert warning["level"] == "warning"
    assert "API_KEY_PEPPER" in warning["event"]


def test_a_pepper_of_its_own_is_quiet(monkeypatch, capsys, owner_url):
    monkeypatch.setenv("API_KEY_PEPPER", "a long random string of this deployment")
    create_app(database_url=owner_url, env="development").extensions["vitalbridge"].db.dispose()
    assert _warnings(capsys.readouterr().err) == []
