"""A local stand-in of PagerDuty's Events API v2 (POST /v2/enqueue), for alerts/pagerduty.py over real HTTP.

It answers as the Events API v2 documents (github.com/PagerDuty/developer-docs, docs/events-API-v2/
02-Trigger-Events.md "Send an Alert Event" and 01-Overview.md "Response Codes & Retry Logic"):
- 202 {"status": "success", "message": "Event processed", "dedup_key": ...} for an accepted event;
- 400 {"status": "invalid event", "message": "Event object is invalid", "errors": [...]} for an invalid one
  (a routing_key that is not 32 characters, an unknown event_action, a trigger without summary / source /
  severity, a summary over 1,024 characters or a dedup_key over 255);
- 429 when told to throttle, 5xx when told to fail, or a dropped connection (a network error): the three the
  docs say to retry "after some time".
Every accepted event is kept (`events`), with the dedup_key PagerDuty would use.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest

from tests.servers.local_http import LocalHttpServer

ROUTING_KEY = "R0UT1NGKEY0SECRET0do0not0print00"
"""32 characters, as an Events API v2 integration key is ("This is the 32 character Integration Key")."""
assert len(ROUTING_KEY) == 32
ROUTING_KEY_LENGTH = 32
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
ACTIONS = ("trigger", "acknowledge", "resolve")
SEVERITIES = ("critical", "error", "warning", "info")


def invalid(event: dict[str, Any]) -> list[str]:
    """The `errors` PagerDuty answers for an invalid event (empty: valid)."""
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or len(key) != ROUTING_KEY_LENGTH:
        errors.append(f"Length of 'routing_key' is incorrect (should be {ROUTING_KEY_LENGTH} characters)")
    if event.get("event_action") not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of: trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > MAX_DEDUP_KEY):
        errors.append(f"'dedup_key' must be a string of at most {MAX_DEDUP_KEY} characters")
    if event.get("event_action") in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is missing or blank")
    if event.get("event_action") == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            for name in ("summary", "source", "severity"):
                if not payload.get(name):
                    errors.append(f"'payload.{name}' is missing or blank")
            if isinstance(payload.get("summary"), str) and len(payload["summary"]) > MAX_SUMMARY:
                errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
            if payload.get("severity") and payload["severity"] not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of: critical, error, warning, info)")
    return errors


@dataclass
class FakePagerDuty(LocalHttpServer):
    events: list[dict[str, Any]] = field(default_factory=list)
    """Every accepted event, as received (routing key included)."""
    requests: int = 0
    fail_with: int | None = None
    """Answer every event with this status (429, 500, 503) instead of accepting it."""
    drop: bool = False
    """Close the connection without answering (a network error)."""
    _events_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def actions(self, dedup_key: str | None = None) -> list[str]:
        return [e["event_action"] for e in self.events if dedup_key is None or e.get("dedup_key") == dedup_key]

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def _answer(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with fake._events_lock:
                    fake.requests += 1
                if self.path != "/v2/enqueue":
                    self._answer(404, {"status": "not found", "message": "Not Found"})
                    return
                if fake.drop:
                    self.close_connection = True
                    self.connection.close()
                    return
                if fake.fail_with == 429:
                    self._answer(429, {"status": "throttle event", "message": "Too many requests, retry later"})
                    return
                if fake.fail_with is not None:
                    self._answer(fake.fail_with, {"status": "error", "message": "Internal Server Error"})
                    return
                try:
                    event = json.loads(raw)
                    assert isinstance(event, dict)
                except (ValueError, AssertionError):
                    self._answer(400, {"status": "invalid event", "message": "Event object is invalid",
                                       "errors": ["Request body is not a JSON object"]})
                    return
                errors = invalid(event)
                if errors:
                    self._answer(400, {"status": "invalid event", "message": "Event object is invalid", "errors": errors})
                    return
                with fake._events_lock:
                    fake.events.append(event)
                self._answer(202, {"status": "success", "message": "Event processed",
                                   "dedup_key": event.get("dedup_key") or "generated-dedup-key"})

        return Handler


@pytest.fixture
def fake_pagerduty() -> Iterator[FakePagerDuty]:
    server = FakePagerDuty().start()
    try:
        yield server
    finally:
        server.stop()
