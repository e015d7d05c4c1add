"""Sending a command from a view: idempotency keys, the bus, the acknowledgement reply."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from collections.abc import Callable

from flask import Response, current_app, g, jsonify, request

from vitalbridge.http.auth import current_principal
from vitalbridge.http.consistency import token_header
from vitalbridge.http.problems import PROBLEM_JSON
from vitalbridge.messaging import idempotency
from vitalbridge.messaging.errors import DomainError, InvalidCommand
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.services import services

IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255

Locate = Callable[[Ack], str]


def send_command(command: Command, *, created: bool = False,
                 location: Locate | None = None) -> Response:
    """Dispatch ``command`` for the current principal and answer its acknowledgement."""
    principal = current_principal()
    services().queries.end_reading()  # what the view asked is settled; free its connection
    claim: idempotency.Claim | None = None
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is not None:
        outcome = _claim(key, principal)
        if isinstance(outcome, idempotency.Replay):
            return _replayed(outcome, created, location)
        claim = outcome
    context = CommandContext(principal=principal, request_id=g.get("request_id"),
                             idempotency=claim, describe_refusal=_problem_response)
    ack = services().commands.dispatch(command, context)
    return _reply(ack, created, location)


def _replayed(replay: idempotency.Replay, created: bool, location: Locate | None) -> Response:
    """The first answer to this key again: the acknowledgement, or the refusal's problem."""
    answer = replay.response
    if isinstance(answer, idempotency.Problem):
        reply = Response(json.dumps(answer.body), status=answer.status, mimetype=PROBLEM_JSON)
    else:
        ack = dataclasses.replace(Ack.from_json(answer), written_at=replay.read_at,
                                  commit_lsn=replay.read_lsn)
        reply = _reply(ack, created, location)
    reply.headers["Idempotent-Replayed"] = "true"
    return reply


def _problem_response(refused: DomainError) -> idempotency.Problem:
    """What the app's error handler answers ``refused`` with, to keep for the key.

    Asking the handler itself (not rebuilding its body here) keeps the replay identical
    to the first answer, request_id included.
    """
    app = current_app
    response = app.make_response(app.handle_user_exception(refused))
    return idempotency.Problem(status=response.status_code, body=response.get_json())


def _claim(key: str, principal: Principal) -> idempotency.Claim | idempotency.Replay:
    if not 1 <= len(key) <= MAX_IDEMPOTENCY_KEY or not key.isprintable():
        raise InvalidCommand(
            "The Idempotency-Key header is invalid.",
            errors={IDEMPOTENCY_HEADER: ["Must be 1 to 255 printable characters."]},
        )
    settings = services().settings
    assert principal.key_id is not None  # every request is made with an API key
    return idempotency.claim(
        services().db.sessions, tenant_id=principal.scope, api_key_id=principal.key_id,
        key=key, request_hash=request_fingerprint(),
        ttl_hours=settings.idempotency_ttl_hours,
        lock_seconds=settings.idempotency_lock_seconds,
    )


def request_fingerprint() -> str:
    """A hash of what makes two requests "the same": method, path and JSON body."""
    raw = request.get_data(cache=True)
    try:
        body = json.dumps(json.loads(raw), sort_keys=True, separators=(",", ":")) if raw else ""
    except (ValueError, RecursionError):  # the view's parser (blueprint.py) refused them first
        body = raw.decode("utf-8", "replace")
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _reply(ack: Ack, created: bool, location: Locate | None) -> Response:
    response = jsonify(ack.to_json())
    response.status_code = 201 if created else 200
    response.headers["ETag"] = f'"{ack.version}"'
    response.headers.update(token_header(current_principal().scope, ack.written_at,
                                         ack.commit_lsn))
    if location is not None:
        response.headers["Location"] = location(ack)
    return response


# "3", 3 or W/"3": ASCII digits only (str.isdigit() also takes "³", which int() refuses),
# and at most 10 of them (versions are PostgreSQL integers).
_VERSION_TAG = re.compile(r'(?:W/)?"([0-9]{1,10})"|([0-9]{1,10})')


def expected_version() -> int | None:
    """The version named by If-Match (``"3"``, ``3`` or ``W/"3"``), or None."""
    header = request.headers.get("If-Match")
    if header is None or header.strip() == "*":
        return None
    tag = _VERSION_TAG.fullmatch(header.strip())
    if tag is None:
        raise InvalidCommand("If-Match must name a version.",
                             errors={"If-Match": ["Must be a version number, e.g. \"3\"."]})
    return int(tag.group(1) or tag.group(2))
