"""Domain errors: each class names the rule that was broken.

The HTTP layer turns them into RFC 9457 problem details; ``type`` becomes the last
segment of the problem's type URI.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

RETRY_AFTER_SECONDS = 1  # what a not-yet-consistent answer asks the client to wait


class DomainError(Exception):
    """A business rule refused a command; answered as 409 unless a subclass says otherwise."""

    status = 409
    type = "conflict"
    title = "Conflict"

    def __init__(self, detail: str, *, errors: Mapping[str, list[str]] | None = None,
                 **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = dict(errors or {})
        self.extra = extra


class NotFound(DomainError):
    """The resource does not exist, or belongs to another tenant (never revealed)."""

    status = 404
    type = "not-found"
    title = "Not Found"


class PermissionDenied(DomainError):
    """The principal's role may not do this."""

    status = 403
    type = "forbidden"
    title = "Forbidden"


class VersionMismatch(DomainError):
    """If-Match named a version that is no longer current."""

    status = 412
    type = "precondition-failed"
    title = "Precondition Failed"


def require_version(what: str, current: int, expected: int | None) -> None:
    """If-Match: refuse (412, naming the current version) unless ``expected`` is current."""
    if expected is not None and expected != current:
        raise VersionMismatch(f"The {what} is at version {current}, not {expected}.",
                              current_version=current)


class InvalidCommand(DomainError):
    """A field is well-formed but unacceptable; ``errors`` names each field."""

    status = 422
    type = "validation-error"
    title = "Unprocessable Content"


class IdempotencyKeyReused(DomainError):
    """The Idempotency-Key was first used with a different request body."""

    status = 422
    type = "idempotency-key-reused"
    title = "Idempotency key reused with a different request"


class IdempotencyKeyInFlight(DomainError):
    """The first request with this Idempotency-Key is still running."""

    status = 409
    type = "idempotency-key-in-flight"
    title = "A request with this idempotency key is in progress"


class NotYetConsistent(DomainError):
    """What a Consistency-Token asks was not readable within the wait: the read models
    had not applied it, or the replica had not replayed it (REPLICA_CATCH_UP_FALLBACK=503)."""

    status = 503
    type = "not-yet-consistent"
    title = "Service Unavailable"
    headers: ClassVar[dict[str, str]] = {"Retry-After": str(RETRY_AFTER_SECONDS)}


def failure_summary(failure: BaseException) -> str:
    """A failure as logs and parked deliveries keep it: its class and, for a database
    error, its SQLSTATE; never its message, which may quote a patient's data (a unique
    violation's detail names the duplicated value)."""
    driver_error = getattr(failure, "orig", None)  # SQLAlchemy wraps the driver's error
    sqlstate = getattr(driver_error, "sqlstate", None) or getattr(failure, "sqlstate", None)
    name = type(failure).__name__
    return f"{name} (SQLSTATE {sqlstate})" if sqlstate else name
