"""The app's wired parts, built once by ``bootstrap`` and kept on the Flask app."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app

from config.settings import Settings
from vitalbridge.db import Database
from vitalbridge.messaging.broker import Publisher
from vitalbridge.messaging.bus import CommandBus, QueryBus
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


def services() -> Services:
    """The current app's services (inside an app context)."""
    return current_app.extensions[EXTENSION_KEY]
