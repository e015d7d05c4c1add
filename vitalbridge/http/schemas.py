"""HTTP schemas every domain shares."""

from __future__ import annotations

from marshmallow import Schema, fields


class AckSchema(Schema):
    """A command's acknowledgement: the id and version it produced, maybe a status."""

    id = fields.UUID(required=True)
    version = fields.Integer(required=True)
    status = fields.String()
