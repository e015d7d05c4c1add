"""The garbage collector in the long-running processes (web workers, relay, scheduler).

Once a process has loaded the app, most of its objects (modules, the app, SQLAlchemy's
and marshmallow's caches) live as long as it does, yet every full collection walks all
of them again: measured in the relay, one full collection took about 80 ms with the
interpreter lock held, stalling every thread, a few times a minute under load.
``settle`` is called once loading is done: it collects what loading left behind, then
freezes the rest (``gc.freeze``), so later collections look at newer objects only.
"""

from __future__ import annotations

import gc


def settle() -> None:
    """Collect now, then leave every object alive at this moment out of later collections."""
    gc.collect()
    gc.freeze()
