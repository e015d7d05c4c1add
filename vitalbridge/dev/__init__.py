"""Developer conveniences: an embedded PostgreSQL and the ``make run`` supervisor."""
