"""Logs are JSON lines that carry the request id."""

import io
import json
import logging

from vitalbridge.logs import configure_logging


def test_log_lines_are_json_with_the_request_id(client, tenant, monkeypatch):
    stream = io.StringIO()
    configure_logging("INFO")
    handler = logging.getLogger().handlers[0]
    monkeypatch.setattr(handler, "stream", stream)
    client.get("/api/v1/api-keys", headers={"X-Request-ID": "log-check-1",
                                            "Authorization": f"Bearer {tenant.admin_key}"})
    client.get("/boom/unknown", headers={"X-Request-ID": "log-check-2"})
    logging.getLogger("vitalbridge.test").warning("outside a request")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines, "nothing was logged"
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
    handled = {line["request_id"]: line for line in lines if line["event"] == "request handled"}
    assert handled["log-check-1"]["status"] == 200
    assert handled["log-check-1"]["path"] == "/api/v1/api-keys"
    assert handled["log-check-2"]["status"] == 404
    assert handled["log-check-2"]["duration_ms"] >= 0
    outside = [line for line in lines if line["event"] == "outside a request"]
    assert outside
    assert "request_id" not in outside[0]  # the context is cleared after each request


def test_access_lines_follow_the_log_level(client, monkeypatch):
    stream = io.StringIO()
    configure_logging("WARNING")
    monkeypatch.setattr(logging.getLogger().handlers[0], "stream", stream)
    client.get("/health/live")
    logging.getLogger("vitalbridge.test").warning("kept")
    configure_logging("INFO")
    assert [json.loads(line)["event"] for line in stream.getvalue().splitlines()] == ["kept"]


def test_a_log_stream_that_fails_never_fails_the_request(client, monkeypatch):
    closed = io.StringIO()
    closed.close()
    configure_logging("INFO")
    monkeypatch.setattr(logging.getLogger().handlers[0], "stream", closed)
    monkeypatch.setattr(logging, "raiseExceptions", False)  # no report on stderr
    assert client.get("/health/live").status_code == 200
