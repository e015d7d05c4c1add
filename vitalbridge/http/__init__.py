"""The HTTP edge: authentication, problem details, request ids, pagination, docs."""
