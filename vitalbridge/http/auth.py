"""API-key authentication and role checks for views.

The tenant of every request comes from the key, never from the URL or body.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from vitalbridge.http.blueprint import Blueprint
from vitalbridge.http.consistency import honoured_token
from vitalbridge.http.error_docs import RATE_LIMITED, problem_response
from vitalbridge.messaging.errors import DomainError, PermissionDenied
from vitalbridge.messaging.messages import Principal, Role
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.services import services
from vitalbridge.tenant.messages import AuthenticateApiKey, ParsedKey, parse_api_key

F = TypeVar("F", bound=Callable[..., Any])

TENANT_ROLES = (Role.ADMIN, Role.STAFF, Role.PROVIDER, Role.READONLY)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # queries; every other is a command


class Unauthenticated(DomainError):
    """No key, a malformed key, an unknown key or a revoked key."""

    status = 401
    type = "unauthenticated"
    title = "Unauthorized"


def requires(*roles: Role) -> Callable[[F], F]:
    """Authenticate the request and allow it only for ``roles``; document both answers."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            key = presented_key()
            # The key check and the view's questions share one read transaction.
            with services().queries.reading_in_tenant(key.tenant_id):
                principal = authenticate(key)
                if principal.role not in roles:
                    _refuse(principal, roles, kwargs)
                with honoured_token(principal.scope, request.method):
                    return view(*args, **kwargs)

        # Documented where it is decided: every guarded operation may answer 401 and 403.
        documented: F = Blueprint.doc(responses=_auth_responses(roles))(guarded)
        return documented

    return decorate


def _refuse(principal: Principal, roles: tuple[Role, ...], path_args: dict[str, Any]) -> None:
    """403. A refused command (any method but GET, HEAD, OPTIONS) leaves an audit row, as a
    handler's refusals do: the trail shows who tried what on which resource."""
    refused = PermissionDenied(f"The role '{principal.role.value}' may not do this; "
                               f"allowed: {', '.join(r.value for r in roles)}.")
    if request.method not in SAFE_METHODS:
        rule = request.url_rule.rule if request.url_rule else request.path
        target = next((v for v in path_args.values() if isinstance(v, uuid.UUID)), None)
        services().queries.end_reading()  # the key is checked; free its connection
        services().commands.audit_refused_operation(
            CommandContext(principal=principal, request_id=g.get("request_id")),
            f"{request.method} {rule}", target, refused)
    raise refused


def _auth_responses(roles: tuple[Role, ...]) -> dict[int, object]:
    allowed = ", ".join(role.value for role in roles)
    return {401: "UNAUTHORIZED",  # flask-smorest's name of the shared 401 response
            403: problem_response(f"The key's role may not do this; allowed: {allowed} "
                                  "(forbidden)."),
            429: RATE_LIMITED}  # vitalbridge/http/rate_limits.py


def bearer_token() -> str:
    """The token of this request's ``Authorization: Bearer`` header, or ""."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def presented_key() -> ParsedKey:
    """The well-formed Bearer key of this request (not yet checked), or 401."""
    token = bearer_token()
    if not token:
        raise Unauthenticated("Send an API key as 'Authorization: Bearer <key>'.")
    parsed = parse_api_key(token)
    if parsed is None:
        raise Unauthenticated("The API key is malformed.")
    return parsed


def authenticate(key: ParsedKey) -> Principal:
    """The principal ``key`` stands for, remembered for this request, or 401."""
    principal = services().queries.ask(AuthenticateApiKey(key=key),
                                       Principal.system(key.tenant_id))
    if principal is None:
        raise Unauthenticated("The API key is unknown or revoked.")
    g.principal = principal
    return principal


def current_principal() -> Principal:
    """The principal authenticated for this request."""
    return g.principal
