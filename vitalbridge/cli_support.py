"""Helpers shared by the flask CLI commands: sending commands as the system, output."""

from __future__ import annotations

import json
from typing import Any

import click

from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.services import services


def send_as_system(command: Command, tenant_id: Any = None) -> Ack:
    """Dispatch ``command`` as the system; a refused command exits with its reason."""
    context = CommandContext(principal=Principal.system(tenant_id), request_id="cli")
    try:
        return services().commands.dispatch(command, context)
    except DomainError as refused:
        details = "; ".join(f"{field}: {' '.join(msgs)}" for field, msgs in refused.errors.items())
        raise click.ClickException(f"{refused.detail} {details}".strip()) from refused


def emit_result(lines: list[str], result: dict[str, Any], as_json: bool) -> None:
    """Print human lines, or, with --json, one JSON object as the last line of stdout."""
    if as_json:
        click.echo(json.dumps(result))
        return
    for line in lines:
        click.echo(line)
