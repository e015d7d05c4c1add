"""Which ids in a path that matched no route are malformed, so that the 404 can say so.

A path with an id that is not a UUID (a placeholder left in, ``/api-keys/<key-id>/revoke``)
matches no route, because the ``uuid`` converter refuses the segment, and werkzeug
answers a bare 404. Matched again against the same routes with every id taking any
segment, it finds the route that was meant and the ids that are not UUIDs. Only requests
that already missed are matched again, so routing itself never changes.
"""

from __future__ import annotations

import re

from flask import Flask, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule, UUIDConverter

_UUID_PARAMETER = re.compile(r"<uuid:(\w+)>")
_UUID = re.compile(UUIDConverter.regex)  # what the routes take: hyphenated hex only
_EXTENSION = "vitalbridge.lenient_ids"


def malformed_ids(app: Flask) -> list[str]:
    """The path parameters of this request that should be ids and are not, in path order;
    empty when no route would match even with any ids (an unknown route)."""
    adapter = _lenient_routes(app).bind("localhost", script_name=request.script_root)
    try:
        meant, values = adapter.match(request.path)
    except HTTPException:
        return []
    return [name for name in _UUID_PARAMETER.findall(meant)
            if not _UUID.fullmatch(values[name])]


def _lenient_routes(app: Flask) -> Map:
    """The app's routes that take ids, each id taking any one segment, for any method;
    the endpoint of each is the route as the app writes it. Built once per app."""
    lenient = app.extensions.get(_EXTENSION)
    if lenient is None:
        paths = sorted({rule.rule for rule in app.url_map.iter_rules()
                        if _UUID_PARAMETER.search(rule.rule)})
        lenient = Map([Rule(_UUID_PARAMETER.sub(r"<\1>", path), endpoint=path)
                       for path in paths])
        app.extensions[_EXTENSION] = lenient
    return lenient
