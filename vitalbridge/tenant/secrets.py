"""Key secrets: generated at random, stored only as a keyed hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import current_app

SECRET_HEX_CHARS = 48  # 192 bits


def new_secret() -> str:
    """A fresh random secret."""
    return secrets.token_hex(SECRET_HEX_CHARS // 2)


def hash_secret(secret: str) -> str:
    """The stored form of a secret: HMAC-SHA256 keyed with API_KEY_PEPPER.

    Secrets are long and random, so a fast keyed hash is enough; the pepper means a
    leaked table alone cannot be used to test guesses.
    """
    pepper = current_app.config["SETTINGS"].api_key_pepper.encode()
    return hmac.new(pepper, secret.encode(), hashlib.sha256).hexdigest()


def secret_matches(secret: str, stored_hash: str) -> bool:
    """Compare in constant time."""
    return hmac.compare_digest(hash_secret(secret), stored_hash)
