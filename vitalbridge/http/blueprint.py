"""The Blueprint every endpoint is declared on: flask-smorest's, with a body parser that
reads JSON only when a view asks for it.

A view's ``@requires`` wraps its ``@blueprint.arguments``, so the body is parsed after the
key is accepted: an anonymous caller cannot make the server parse anything.
"""

from __future__ import annotations

import json
import typing

import flask
from flask_smorest import Blueprint as SmorestBlueprint
from flask_smorest import abort
from webargs.flaskparser import FlaskParser


class JsonBodyParser(FlaskParser):
    """webargs' parser, answering 400 for JSON that Python's reader cannot load.

    webargs answers malformed JSON itself (400 naming ``json``), but valid JSON can still
    fail to load: nested 100,000 deep (RecursionError) or an integer of 5,000 digits
    (ValueError). Those would be a 500; they get webargs' answer, with their own reason.
    """

    def _raw_load_json(self, req: flask.Request) -> typing.Any:
        try:
            return super()._raw_load_json(req)
        except json.JSONDecodeError:
            raise  # webargs answers it
        except (ValueError, RecursionError):
            return _unreadable()


def _unreadable() -> typing.NoReturn:
    abort(400, messages={"json": {"json": ["Nested too deeply, or a number too long to read."]}})
    raise AssertionError("abort raises")  # webargs' abort is not annotated NoReturn


class Blueprint(SmorestBlueprint):
    """flask-smorest's Blueprint with the JSON body parser above."""

    ARGUMENTS_PARSER = JsonBodyParser()

    def arguments(self, schema: typing.Any, *args: typing.Any,
                  **kwargs: typing.Any) -> typing.Callable[..., typing.Any]:
        """flask-smorest's, with a schema class made its instance once (webargs would
        make one on every request: a few per cent of a booking's CPU)."""
        if isinstance(schema, type):
            schema = schema()
        return super().arguments(schema, *args, **kwargs)
