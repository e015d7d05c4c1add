"""Abuse limits: commands per API key, failed authentications per client address.

Two application-wide limits (Flask-Limiter, sliding window counter: two counters per key
and limit, where a moving window keeps a timestamp per request and costs each request a
walk of them):

- **Commands per key** (RATE_LIMIT_COMMANDS, default 600 per minute): every request but
  GET, HEAD and OPTIONS counts against the key it presents, once the key is accepted (an
  answer other than 401), so nobody can spend another key's budget by sending its id
  with a wrong secret.
- **Failed authentications per address** (RATE_LIMIT_FAILED_AUTH, default 30 per
  minute): every 401 counts against the client's address; past the limit, that address
  gets 429 for everything until the window has room again, whatever key it sends, so a
  key cannot be guessed at speed.

Past a limit the answer is 429 problem+json with Retry-After. The counts live in Redis
when REDIS_URL is set, shared by every worker and host; without it each process counts
alone (the limit is then per gunicorn worker). If Redis stops answering, each process
falls back to counting in memory rather than refusing or failing requests.
"""

from __future__ import annotations

import functools
import logging
import math
import time

from flask import Flask, Response, request
from flask_limiter import ApplicationLimit, Limiter
from flask_limiter.errors import RateLimitExceeded

from vitalbridge.http.auth import SAFE_METHODS, bearer_token
from vitalbridge.http.problems import problem
from vitalbridge.tenant.messages import parse_api_key

log = logging.getLogger(__name__)

COMMANDS_SCOPE = "commands-per-key"
FAILED_AUTH_SCOPE = "failed-auth-per-address"


def init_rate_limits(app: Flask) -> Limiter:
    """Install both limits; before every other request hook, so a refusal costs nothing."""
    settings = app.config["SETTINGS"]
    limiter = Limiter(
        key_func=client_address,
        application_limits=[
            ApplicationLimit(settings.rate_limit_failed_auth, key_function=client_address,
                             scope=FAILED_AUTH_SCOPE,
                             deduct_when=_refused_key, error_message=_too_many_failures),
            ApplicationLimit(settings.rate_limit_commands, key_function=presented_key_id,
                             scope=COMMANDS_SCOPE, exempt_when=_not_a_keyed_command,
                             deduct_when=_accepted_key, error_message=_too_many_commands),
        ],
        storage_uri=settings.redis_url or "memory://",
        strategy="sliding-window-counter",
        # Its headers would set Retry-After on every answer, over the app's own (503s).
        headers_enabled=False,
        swallow_errors=True,
        in_memory_fallback_enabled=bool(settings.redis_url),
        key_prefix="vitalbridge",
    )
    # Checked before any limit is resolved: health checks, metrics and the docs skip the
    # limiter's work altogether (it was most of a health check's CPU).
    limiter.request_filter(_not_the_api)
    limiter.init_app(app)
    app.register_error_handler(RateLimitExceeded, functools.partial(_too_many_requests, limiter))
    return limiter


def client_address() -> str:
    """The client's address (nginx's X-Forwarded-For is applied by ProxyFix, see app.py)."""
    return request.remote_addr or "unknown"


def presented_key_id() -> str:
    """The id of the key this request presents (not yet checked), or "" when none."""
    parsed = parse_api_key(bearer_token())
    return str(parsed.key_id) if parsed else ""


def _not_the_api() -> bool:
    # Health checks, metrics and the docs never authenticate: a locked-out address (a
    # monitor behind the same NAT as a misconfigured client) still reaches them.
    return not request.path.startswith("/api/")


def _not_a_keyed_command() -> bool:
    return _not_the_api() or request.method in SAFE_METHODS or not presented_key_id()


def _refused_key(response: Response) -> bool:
    return response.status_code == 401


def _accepted_key(response: Response) -> bool:
    return response.status_code != 401


def _too_many_failures() -> str:
    return ("Too many requests with a missing or wrong API key from this address; "
            "wait for Retry-After seconds.")


def _too_many_commands() -> str:
    return "Too many commands with this API key; wait for Retry-After seconds."


def _too_many_requests(limiter: Limiter, error: RateLimitExceeded) -> Response:
    # Counted, not the content: no key, no body in the log line.
    log.warning("rate limit reached", extra={"limit": str(error.limit.limit),
                                             "scope": error.limit.scope})
    return problem(429, "Too Many Requests", error.description, type_="rate-limited",
                   headers={"Retry-After": str(_seconds_until_room(limiter))})


def _seconds_until_room(limiter: Limiter) -> int:
    breached = limiter.current_limit
    reset_at = breached.reset_at if breached else time.time() + 1
    return max(1, math.ceil(reset_at - time.time()))
