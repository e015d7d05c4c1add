"""OpenAPI links: where the id a command answers can be used next.

A command that creates something answers its id (201, ``{"id": ...}``); every operation
whose path names that kind of id, and nothing the creator does not know, is linked from
that answer, so a client (or a stateful test) can follow create -> read -> change. A PUT
links to the DELETE of the same path (set an override, then remove it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

# The operations that create, and the path parameter their answer's id fills.
CREATES = {
    ("post", "/api/v1/tenants"): "tenant_id",
    ("post", "/api/v1/api-keys"): "key_id",
    ("post", "/api/v1/providers"): "provider_id",
    ("post", "/api/v1/patients"): "patient_id",
    ("post", "/api/v1/appointments"): "appointment_id",
    ("post", "/api/v1/providers/{provider_id}/leave-requests"): "leave_id",
}
_PARAMETER = re.compile(r"\{(\w+)\}")


@dataclass
class LinkBook:
    """Collects operations as the document is built and links them as they meet."""

    _creators: list[tuple[str, str, str, dict[str, Any]]] = field(default_factory=list)
    _operations: list[tuple[str, str]] = field(default_factory=list)
    _puts: dict[str, dict[str, Any]] = field(default_factory=dict)

    def add(self, path: str, method: str, responses: dict[int | str, Any]) -> None:
        """Record one operation (with its responses, linked in place)."""
        created = CREATES.get((method, path))
        if created is not None and isinstance(responses.get(201), dict):
            answer = responses[201]
            self._creators.append((path, method, created, answer))
            for target in self._operations:
                _link(path, created, answer, *target)
        for creator_path, _, created, answer in self._creators:
            _link(creator_path, created, answer, method, path)
        self._operations.append((method, path))
        self._link_put_to_delete(path, method, responses)

    def _link_put_to_delete(self, path: str, method: str, responses: dict[int | str, Any]
                            ) -> None:
        if method == "put" and isinstance(responses.get(200), dict):
            self._puts[path] = responses[200]
        put = self._puts.get(path)
        if put is not None and (method == "delete" or ("delete", path) in self._operations):
            _add(put, "delete", path, {name: f"$request.path.{name}"
                                       for name in _PARAMETER.findall(path)})


def _link(creator_path: str, created: str, answer: dict[str, Any], method: str,
          path: str) -> None:
    needed = _PARAMETER.findall(path)
    known = set(_PARAMETER.findall(creator_path))
    if created not in needed or not set(needed) <= known | {created}:
        return
    parameters = {name: "$response.body#/id" if name == created else f"$request.path.{name}"
                  for name in needed}
    _add(answer, method, path, parameters)


def _add(answer: dict[str, Any], method: str, path: str, parameters: dict[str, str]) -> None:
    name = re.sub(r"[^A-Za-z0-9]+", "_", f"{method} {path}").strip("_")
    pointer = path.replace("~", "~0").replace("/", "~1")
    answer.setdefault("links", {})[name] = {"operationRef": f"#/paths/{pointer}/{method}",
                                            "parameters": parameters}
