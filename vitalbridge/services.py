"""The app's wired parts, built once by ``bootstrap`` and kept on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from config.settings import Settings
from vitalbridge.db import Database
from vitalbridge.messaging.broker import Publisher
from vitalbridge.messaging.bus import CommandBus, QueryBus
from vitalbridge.messaging.read_models import ReadModel
from vitalbridge.messaging.signals import EventSignals

EXTENSION_KEY = "vitalbridge"


@dataclass
class Services:
    """Settings, database, buses and event signals of one app."""

    settings: Settings
    db: Database
    commands: CommandBus
    queries: QueryBus
    signals: EventSignals
    publisher: Publisher | None = None
    read_models: tuple[ReadModel, ...] = ()

    def read_model(self, name: str) -> ReadModel:
        """The read model called ``name``; KeyError if there is none."""
        for model in self.read_models:
            if model.name == name:
                return model
        raise KeyError(name)


def services() -> Services:
    """The current app's services (inside an app context)."""
    return current_app.extensions[EXTENSION_KEY]
