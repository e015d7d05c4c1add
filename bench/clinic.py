"""What the database-backed benchmarks share: their database, and a clinic built
through the app's own command bus."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

from flask import Flask

from tests import database
from vitalbridge import create_app
from vitalbridge.messaging.messages import Command, Principal
from vitalbridge.messaging.uow import CommandContext
from vitalbridge.patient.messages import RegisterPatient
from vitalbridge.tenant.messages import CreateTenant


@contextlib.contextmanager
def owner_database(owner_url: str | None) -> Iterator[str]:
    """The given owner URL, or a fresh database like the tests' (TEST_DATABASE_URL or embedded)."""
    if owner_url:
        yield owner_url
        return
    with database.server_url() as server, database.fresh_database(server) as url:
        yield url


class BenchClinic:
    """The app on a migrated database, and one clinic with an admin key."""

    def __init__(self, owner_url: str, zone: str) -> None:
        self.app: Flask = create_app(database_url=owner_url, env="testing")
        self.owner_url = owner_url
        with self.app.app_context():
            self.app.extensions["alembic"].upgrade()
        ack = self.send(CreateTenant(name="Bench clinic", slug="bench", timezone=zone,
                                     with_admin_key=True), None)
        self.tenant_id, self.key = ack.id, ack.extra["api_key"]

    def send(self, command: Command, tenant_id: uuid.UUID | None) -> Any:
        """Dispatch ``command`` as the app itself, inside ``tenant_id`` (None: platform)."""
        bus = self.app.extensions["vitalbridge"].commands
        with self.app.app_context():
            return bus.dispatch(command, CommandContext(principal=Principal.system(tenant_id),
                                                        request_id="bench"))

    def add_patients(self, count: int) -> list[uuid.UUID]:
        """Patients, through the app's commands."""
        born = date(1980, 1, 1)
        return [self.send(RegisterPatient(given_name="Bench", family_name=f"Patient {n}",
                                          birth_date=born, confirm_new=True),
                          self.tenant_id).id for n in range(count)]
