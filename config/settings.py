"""Every setting the app reads, its environment variable and its default.

Settings are read once per ``create_app`` call, never at import, so tests and CLI
commands can change the environment before building an app.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import limits
from sqlalchemy.engine import make_url

ENVIRONMENTS = ("development", "testing", "production")
REPLICA_FALLBACKS = ("primary", "503")
PROJECT_ROOT = Path(__file__).resolve().parents[1]
DEV_ONLY_PEPPER = "dev-only-pepper-not-for-production"


class SettingsError(RuntimeError):
    """A setting is missing or unusable; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Typed settings; each field's metadata names its environment variable."""

    env: str = field(default="development", metadata={"env": "VITALBRIDGE_ENV"})
    database_url: str = field(default="", metadata={"env": "DATABASE_URL"})
    database_app_url: str = field(default="", metadata={"env": "DATABASE_APP_URL"})
    database_app_role: str = field(default="vitalbridge_app", metadata={"env": "DATABASE_APP_ROLE"})
    database_relay_url: str = field(default="", metadata={"env": "DATABASE_RELAY_URL"})
    database_relay_role: str = field(
        default="vitalbridge_relay", metadata={"env": "DATABASE_RELAY_ROLE"}
    )
    database_replica_url: str = field(default="", metadata={"env": "DATABASE_REPLICA_URL"})
    # A query with a Consistency-Token whose commit the replica has not replayed within
    # the wait: "primary" reads the primary, "503" answers not-yet-consistent.
    replica_catch_up_fallback: str = field(
        default="primary", metadata={"env": "REPLICA_CATCH_UP_FALLBACK"})
    database_pool_size: int = field(default=5, metadata={"env": "DATABASE_POOL_SIZE"})
    # Set on the app role by the migrations (ALTER ROLE ... SET), so they bound every
    # connection it makes: a runaway query, a lock wait, a transaction left open.
    database_statement_timeout_ms: int = field(
        default=10_000, metadata={"env": "DATABASE_STATEMENT_TIMEOUT_MS"})
    database_lock_timeout_ms: int = field(
        default=3_000, metadata={"env": "DATABASE_LOCK_TIMEOUT_MS"})
    database_idle_in_transaction_timeout_ms: int = field(
        default=30_000, metadata={"env": "DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS"})
    log_level: str = field(default="INFO", metadata={"env": "LOG_LEVEL"})
    max_body_bytes: int = field(default=1_048_576, metadata={"env": "MAX_BODY_BYTES"})
    api_key_pepper: str = field(default="", metadata={"env": "API_KEY_PEPPER"})
    idempotency_ttl_hours: int = field(default=24, metadata={"env": "IDEMPOTENCY_TTL_HOURS"})
    idempotency_lock_seconds: int = field(
        default=60, metadata={"env": "IDEMPOTENCY_LOCK_SECONDS"}
    )
    # How often a standby scheduler tries to become the active one.
    scheduler_poll_seconds: float = field(default=2.0, metadata={"env": "SCHEDULER_POLL_SECONDS"})
    # One interval for every scheduled job (drills and tests); 0: each job's own.
    scheduler_interval_seconds: int = field(
        default=0, metadata={"env": "SCHEDULER_INTERVAL_SECONDS"})
    outbox_poll_seconds: float = field(default=1.0, metadata={"env": "OUTBOX_POLL_SECONDS"})
    # Under steady load, the shortest time between two of the relay's passes: the events
    # of that time share one batch (see vitalbridge/messaging/relay.py).
    outbox_pass_seconds: float = field(default=0.1, metadata={"env": "OUTBOX_PASS_SECONDS"})
    outbox_batch_size: int = field(default=500, metadata={"env": "OUTBOX_BATCH_SIZE"})
    outbox_max_attempts: int = field(default=8, metadata={"env": "OUTBOX_MAX_ATTEMPTS"})
    outbox_retry_base_seconds: float = field(
        default=1.0, metadata={"env": "OUTBOX_RETRY_BASE_SECONDS"})
    outbox_retry_max_seconds: float = field(
        default=300.0, metadata={"env": "OUTBOX_RETRY_MAX_SECONDS"})
    event_broker_url: str = field(default="", metadata={"env": "EVENT_BROKER_URL"})
    outbox_retention_days: int = field(default=7, metadata={"env": "OUTBOX_RETENTION_DAYS"})
    default_phone_region: str = field(default="US", metadata={"env": "DEFAULT_PHONE_REGION"})
    # The local dates the daily provider figures keep current: today minus the past days
    # to today plus the future days. Reports outside are computed live (slower).
    report_window_past_days: int = field(
        default=400, metadata={"env": "REPORT_WINDOW_PAST_DAYS"})
    report_window_future_days: int = field(
        default=200, metadata={"env": "REPORT_WINDOW_FUTURE_DAYS"})
    # Reconciliation (flask reconcile, and daily): a delivery retrying longer than this, or
    # an event undelivered longer, is a discrepancy; a read-model row that differs is
    # looked at again once the relay has applied what was waiting (up to the seconds).
    reconcile_stuck_delivery_minutes: int = field(
        default=60, metadata={"env": "RECONCILE_STUCK_DELIVERY_MINUTES"})
    reconcile_undelivered_minutes: int = field(
        default=15, metadata={"env": "RECONCILE_UNDELIVERED_MINUTES"})
    reconcile_settle_seconds: float = field(
        default=10.0, metadata={"env": "RECONCILE_SETTLE_SECONDS"})
    # Abuse limits (vitalbridge/http/rate_limits.py), as "N/second|minute|hour".
    rate_limit_commands: str = field(default="600/minute", metadata={"env": "RATE_LIMIT_COMMANDS"})
    rate_limit_failed_auth: str = field(
        default="30/minute", metadata={"env": "RATE_LIMIT_FAILED_AUTH"})
    # Shared rate-limit counts for every worker and host; unset: each process counts alone.
    redis_url: str = field(default="", metadata={"env": "REDIS_URL"})
    # How many proxies in front set X-Forwarded-For/-Proto (nginx: 1). The client address
    # of the failed-authentication limit is read through them.
    trusted_proxy_hops: int = field(default=0, metadata={"env": "TRUSTED_PROXY_HOPS"})
    # Browser origins allowed to call the API, comma-separated (https://app.example.org).
    cors_allowed_origins: str = field(default="", metadata={"env": "CORS_ALLOWED_ORIGINS"})
    var_dir: str = field(default=str(PROJECT_ROOT / "var"), metadata={"env": "VITALBRIDGE_VAR"})

    @property
    def app_url(self) -> str:
        """The URL the web app and query bus use: a role that owns nothing."""
        return self.database_app_url or _with_user(self.database_url, self.database_app_role)

    @property
    def relay_url(self) -> str:
        """The URL the outbox relay uses to read every tenant's outbox rows."""
        return self.database_relay_url or _with_user(
            self.database_url, self.database_relay_role
        )

    @property
    def cors_origins(self) -> tuple[str, ...]:
        """The origins of CORS_ALLOWED_ORIGINS, one per entry."""
        return tuple(o.strip() for o in self.cors_allowed_origins.split(",") if o.strip())

    def to_flask(self) -> dict[str, object]:
        """The Flask config keys derived from these settings."""
        return {"SETTINGS": self, "MAX_CONTENT_LENGTH": self.max_body_bytes}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``), then apply overrides."""
    environ = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for f in fields(Settings):
        raw = environ.get(f.metadata["env"])
        if raw not in (None, ""):
            values[f.name] = _convert(f.name, f.metadata["env"], raw, type(f.default))
    values.update(overrides)
    settings = Settings(**values)  # type: ignore[arg-type]
    return _validated(settings)


def _convert(name: str, env_name: str, raw: str, kind: type) -> object:
    try:
        return kind(raw)
    except ValueError:
        raise SettingsError(f"{env_name} must be a {kind.__name__}, got {raw!r}") from None


def _validated(settings: Settings) -> Settings:
    if settings.env not in ENVIRONMENTS:
        raise SettingsError(f"VITALBRIDGE_ENV must be one of {', '.join(ENVIRONMENTS)}")
    if not settings.database_url:
        raise SettingsError("DATABASE_URL is not set (make run starts an embedded PostgreSQL)")
    if settings.env == "production" and not settings.api_key_pepper:
        raise SettingsError("API_KEY_PEPPER must be set in production (a long random string)")
    for name in ("report_window_past_days", "report_window_future_days"):
        if not 0 <= getattr(settings, name) <= 3660:
            raise SettingsError(f"{name.upper()} must be from 0 to 3660 days")
    for origin in settings.cors_origins:
        _check_origin(origin)
    for name in ("rate_limit_commands", "rate_limit_failed_auth"):
        _check_rate_limit(name.upper(), getattr(settings, name))
    if settings.replica_catch_up_fallback not in REPLICA_FALLBACKS:
        raise SettingsError("REPLICA_CATCH_UP_FALLBACK must be one of "
                            f"{', '.join(REPLICA_FALLBACKS)}")
    if not 0 <= settings.outbox_pass_seconds <= 10:
        raise SettingsError("OUTBOX_PASS_SECONDS must be from 0 to 10 seconds")
    if not 0 <= settings.trusted_proxy_hops <= 5:
        raise SettingsError("TRUSTED_PROXY_HOPS must be from 0 to 5")
    if not settings.api_key_pepper:
        object.__setattr__(settings, "api_key_pepper", DEV_ONLY_PEPPER)
    _check_role_matches(settings.database_app_url, settings.database_app_role,
                        "DATABASE_APP_URL", "DATABASE_APP_ROLE")
    _check_role_matches(settings.database_relay_url, settings.database_relay_role,
                        "DATABASE_RELAY_URL", "DATABASE_RELAY_ROLE")
    return settings


_ORIGIN = re.compile(r"https?://[A-Za-z0-9.-]+(:[0-9]{1,5})?")


def _check_origin(origin: str) -> None:
    # An origin is scheme://host[:port], exactly as a browser sends it; "*" or a path
    # would either open the API to every page or never match.
    if not _ORIGIN.fullmatch(origin):
        raise SettingsError(f"CORS_ALLOWED_ORIGINS: {origin!r} is not an origin like "
                            "https://app.example.org ('*' is not allowed)")


def _check_rate_limit(env_name: str, value: str) -> None:
    try:
        limits.parse(value)
    except ValueError:
        raise SettingsError(f"{env_name} must be a rate like '600/minute', got {value!r}"
                            ) from None


def _check_role_matches(url: str, role: str, url_name: str, role_name: str) -> None:
    # Migrations grant privileges to the role *name*; connecting as anyone else would
    # leave the app without them (or, worse, connected as a role RLS does not bind).
    if url and make_url(url).username != role:
        raise SettingsError(f"{url_name} must connect as {role_name} ({role!r})")


def _with_user(url: str, user: str) -> str:
    """The same server and database, reached as another role (trust/peer auth setups).

    Production sets DATABASE_APP_URL / DATABASE_RELAY_URL with their own passwords.
    """
    # URL.set() treats None as "unchanged"; the owner's password must not carry over.
    return make_url(url)._replace(username=user, password=None).render_as_string(
        hide_password=False
    )
