"""The tenant domain: clinics and their API keys."""
