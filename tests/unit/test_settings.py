"""Settings come from the environment; production refuses unusable defaults."""

import pytest

from config.settings import DEV_ONLY_PEPPER, SettingsError, load_settings

BASE = {"DATABASE_URL": "postgresql://owner:pw@db.internal:5432/vitalbridge"}


def test_defaults_and_derived_role_urls():
    settings = load_settings(BASE)
    assert settings.env == "development"
    assert settings.api_key_pepper == DEV_ONLY_PEPPER
    assert settings.app_url == "postgresql://vitalbridge_app@db.internal:5432/vitalbridge"
    assert settings.relay_url == "postgresql://vitalbridge_relay@db.internal:5432/vitalbridge"


def test_explicit_role_urls_win():
    settings = load_settings({**BASE, "DATABASE_APP_URL": "postgresql://vitalbridge_app:b@h/d",
                              "DATABASE_RELAY_URL": "postgresql://vitalbridge_relay:s@h/d"})
    assert settings.app_url == "postgresql://vitalbridge_app:b@h/d"
    assert settings.relay_url == "postgresql://vitalbridge_relay:s@h/d"


def test_numbers_are_parsed_and_bad_numbers_named():
    assert load_settings({**BASE, "DATABASE_POOL_SIZE": "12"}).database_pool_size == 12
    with pytest.raises(SettingsError, match="DATABASE_POOL_SIZE"):
        load_settings({**BASE, "DATABASE_POOL_SIZE": "many"})


def test_database_url_is_required():
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({})


def test_production_requires_a_pepper():
    with pytest.raises(SettingsError, match="API_KEY_PEPPER"):
        load_settings({**BASE, "VITALBRIDGE_ENV": "production"})
    prod = load_settings({**BASE, "VITALBRIDGE_ENV": "production", "API_KEY_PEPPER": "x" * 40})
    assert prod.api_key_pepper == "x" * 40


def test_unknown_environment_is_refused():
    with pytest.raises(SettingsError, match="VITALBRIDGE_ENV"):
        load_settings({**BASE, "VITALBRIDGE_ENV": "staging-ish"})


def test_role_urls_must_connect_as_the_granted_roles():
    with pytest.raises(SettingsError, match="DATABASE_APP_ROLE"):
        load_settings({**BASE, "DATABASE_APP_URL": "postgresql://someone:pw@h/d"})
    with pytest.raises(SettingsError, match="DATABASE_RELAY_ROLE"):
        load_settings({**BASE, "DATABASE_RELAY_URL": "postgresql://someone:pw@h/d"})


def test_the_replica_catch_up_fallback_is_primary_or_503():
    assert load_settings(BASE).replica_catch_up_fallback == "primary"
    assert load_settings({**BASE, "REPLICA_CATCH_UP_FALLBACK": "503"}
                         ).replica_catch_up_fallback == "503"
    with pytest.raises(SettingsError, match="REPLICA_CATCH_UP_FALLBACK"):
        load_settings({**BASE, "REPLICA_CATCH_UP_FALLBACK": "wait"})


def test_the_relay_pass_interval_is_parsed_and_bounded():
    assert load_settings({**BASE, "OUTBOX_PASS_SECONDS": "0.05"}).outbox_pass_seconds == 0.05
    for bad in ("-0.1", "11"):
        with pytest.raises(SettingsError, match="OUTBOX_PASS_SECONDS must be from 0 to 10"):
            load_settings({**BASE, "OUTBOX_PASS_SECONDS": bad})
