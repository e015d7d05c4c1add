"""The production topology on one machine: ``python -m deploy.topology up|down|test``."""
