"""VitalBridge: a multi-tenant healthcare scheduling backend."""

from vitalbridge.app import create_app

__all__ = ["create_app"]
