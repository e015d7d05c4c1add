"""Settings for VitalBridge, read from the environment (12-factor)."""

from config.settings import Settings, load_settings

__all__ = ["Settings", "load_settings"]
