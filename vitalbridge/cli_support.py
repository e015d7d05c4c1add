"""Helpers shared by the flask CLI commands: sending commands as the system, output."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

import click

from vitalbridge.messaging.bus import QueryBus
from vitalbridge.messaging.errors import DomainError
from vitalbridge.messaging.messages import Ack, Command, Principal
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.services import services
from vitalbridge.tenant.messages import FindTenantBySlug, ListTenants, TenantView

TENANT_PAGE = 200
P = ParamSpec("P")
R = TypeVar("R")


def reads_primary(command: Callable[P, R]) -> Callable[P, R]:
    """Run a CLI command with every query on the primary.

    A command that writes and then reads what it wrote (the demo seed looks up the
    providers it has just added) must not ask a replica (DATABASE_REPLICA_URL), which
    may not have replayed the write yet. An operator's command is one process with a
    handful of reads, so the primary loses nothing worth keeping.
    """
    @functools.wraps(command)
    def on_primary(*args: P.args, **kwargs: P.kwargs) -> R:
        with services().queries.on_primary():
            return command(*args, **kwargs)

    return on_primary


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


def every_tenant(queries: QueryBus) -> Iterator[TenantView]:
    """Every tenant, in creation order, a page at a time."""
    after = None
    while True:
        page = queries.ask(ListTenants(limit=TENANT_PAGE, after=after), Principal.system())
        yield from page[:TENANT_PAGE]
        if len(page) <= TENANT_PAGE:
            return
        last = page[TENANT_PAGE - 1]
        after = (last.created_at, last.id)


def chosen_tenants(slug: str | None) -> Iterator[TenantView]:
    """The tenant with ``slug`` (a usage error when there is none), or every tenant."""
    queries = services().queries
    if slug is None:
        yield from every_tenant(queries)
        return
    tenant = queries.ask(FindTenantBySlug(slug=slug), Principal.system())
    if tenant is None:
        raise click.BadParameter(f"no tenant with slug {slug!r}", param_hint="--tenant")
    yield tenant
