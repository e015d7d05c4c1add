"""An HTTPS client of the API through nginx, as one client machine would be.

Each client has a loopback source address of its own (127.0.0.0/8 is all local on
Linux): nginx's per-address rate limit then counts each client apart, as it would real
clients, and a burst from one address does not throttle the others.
"""

from __future__ import annotations

import http.client
import json
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from deploy.topology.layout import Layout


@dataclass(frozen=True)
class Answer:
    """One answer; status 0 when the connection failed (no HTTP answer at all)."""

    status: int
    headers: dict[str, str]
    body: Any
    sent_at: float  # time.monotonic() when the request went out
    took: float

    @property
    def problem_type(self) -> str | None:
        return self.body.get("type") if isinstance(self.body, dict) else None


@dataclass
class Client:
    """A keep-alive connection to nginx from ``source`` with ``key`` (if any)."""

    layout: Layout
    source: str = "127.0.0.1"
    key: str | None = None
    timeout: float = 40
    _connection: http.client.HTTPSConnection | None = field(default=None, repr=False)

    def request(self, method: str, path: str, body: object = None,
                headers: dict[str, str] | None = None) -> Answer:
        sent_headers = {"Accept": "application/json", **(headers or {})}
        if self.key:
            sent_headers["Authorization"] = f"Bearer {self.key}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            sent_headers["Content-Type"] = "application/json"
        sent_at = time.monotonic()
        try:
            connection = self._connect()
            connection.request(method, path, body=payload, headers=sent_headers)
            response = connection.getresponse()
            raw = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            return Answer(0, {}, None, sent_at, time.monotonic() - sent_at)
        took = time.monotonic() - sent_at
        if response.getheader("Connection", "").lower() == "close":
            self.close()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()},
                      _decoded(raw), sent_at, took)

    def get(self, path: str, **headers: str) -> Answer:
        return self.request("GET", path, headers=headers)

    def post(self, path: str, body: object, **headers: str) -> Answer:
        return self.request("POST", path, body, headers)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> http.client.HTTPSConnection:
        if self._connection is None:
            context = ssl.create_default_context(cafile=str(self.layout.certificate))
            self._connection = http.client.HTTPSConnection(
                "localhost", self.layout.ports.https, timeout=self.timeout,
                source_address=(self.source, 0), context=context)
        return self._connection


def _decoded(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")
