"""Medical record numbers: generated ones are short, unambiguous and self-checking.

A generated MRN is 7 random Crockford base32 symbols (no I, L, O or U, so nothing reads
as 1, 0 or V) and a Luhn mod 32 check symbol, which catches every single mistyped
symbol and all but one pair of swapped neighbours (``0Z``/``Z0``): ``7KQ2M9XH``.
Randomness (not a counter) keeps the patient count private and needs no per-tenant
lock; uniqueness is enforced by the database, and the handler draws again on the rare
collision.
"""

from __future__ import annotations

import re
import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
PAYLOAD_LENGTH = 7
GENERATED = re.compile(rf"^[{ALPHABET}]{{{PAYLOAD_LENGTH + 1}}}$")
# What a clinic may supply (numbers carried over from an earlier system).
SUPPLIED = re.compile(r"^[A-Z0-9](?:[A-Z0-9-]{0,30}[A-Z0-9])?$")
_BASE = len(ALPHABET)


def new_mrn() -> str:
    """A fresh random MRN with its check symbol."""
    payload = "".join(secrets.choice(ALPHABET) for _ in range(PAYLOAD_LENGTH))
    return payload + check_symbol(payload)


def check_symbol(payload: str) -> str:
    """The Luhn mod 32 check symbol of ``payload``."""
    return ALPHABET[(_BASE - _luhn_sum(payload, double_first=True) % _BASE) % _BASE]


def is_generated_mrn(value: str) -> bool:
    """Whether ``value`` has the shape and a valid check symbol of a generated MRN."""
    return bool(GENERATED.match(value)) and _luhn_sum(value, double_first=False) % _BASE == 0


def normalise_mrn(value: str) -> str:
    """MRNs compare case-insensitively: they are stored and matched upper-case."""
    return value.strip().upper()


def _luhn_sum(symbols: str, *, double_first: bool) -> int:
    total, double = 0, double_first
    for symbol in reversed(symbols):
        addend = ALPHABET.index(symbol) * (2 if double else 1)
        total += addend // _BASE + addend % _BASE
        double = not double
    return total
