"""A local fake of the Cloud Run Admin API v2 `getIamPolicy`, for the real run_v2 REST client.

google-cloud-run's ServicesClient(transport="rest") sends
`GET /v2/projects/P/locations/R/services/S:getIamPolicy` (its http_options say "get") and parses the
JSON body into an iam_policy_pb2.Policy; a JSON error body with an HTTP status becomes the matching
google.api_core exception (404 -> NotFound, 403 -> Forbidden, 500 -> InternalServerError).

Policies are keyed by service name within one project/region; an unknown service (or another
project/region) answers 404. Faults are switched on per test: 403, 500, a malformed body, or a delay
(a hung API, released when the fake stops so no thread outlives the test).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest

from tests.servers.local_http import LocalHttpServer

PATH = re.compile(r"^/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/services/(?P<service>[^/:]+):getIamPolicy$")
FAULTS = ("forbidden", "server_error", "malformed", "slow")


def _status_body(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@dataclass
class FakeCloudRun(LocalHttpServer):
    project: str = "nba-props-platform"
    region: str = "us-west2"
    policies: dict[str, dict[str, Any]] = field(default_factory=dict)
    fault: str | None = None
    """None, or one of FAULTS: every getIamPolicy answers that way until cleared."""
    delay_seconds: float = 0.0
    """Added to every answer (the same latency for every call, for the concurrency benchmark)."""
    slow_seconds: float = 30.0
    """How long a `slow` fault holds the answer (longer than any client timeout in the tests)."""
    requests: list[tuple[str, str]] = field(default_factory=list)

    def set_policies(self, policies: dict[str, Any]) -> None:
        with self._lock:
            self.policies = json.loads(json.dumps(policies))

    def answer(self, method: str, path: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append((method, path))
            fault, policies = self.fault, self.policies
        if self.delay_seconds:
            self.hold(self.delay_seconds)
        match = PATH.match(path.split("?", 1)[0])
        if method != "GET" or match is None:
            return 404, _status_body(404, "NOT_FOUND", f"no route {method} {path}")
        if fault == "forbidden":
            return 403, _status_body(
                403, "PERMISSION_DENIED",
                f"Permission 'run.services.getIamPolicy' denied on resource '{path[4:].split(':')[0]}'",
            )
        if fault == "server_error":
            return 500, _status_body(500, "INTERNAL", "Internal error encountered.")
        if fault == "malformed":
            return 200, b'{"bindings": [{"role": "roles/run.invoker", "members": ['
        if fault == "slow":
            self.hold(self.slow_seconds)
            return 503, _status_body(503, "UNAVAILABLE", "the fake was stopped while holding this answer")
        if (match["project"], match["region"]) != (self.project, self.region) or match["service"] not in policies:
            return 404, _status_body(404, "NOT_FOUND", f"Resource '{match['service']}' of kind 'SERVICE' was not found.")
        return 200, json.dumps(policies[match["service"]]).encode()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                code, body = fake.answer(self.command, self.path)
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json; charset=UTF-8")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the client gave up (its timeout): nothing to answer

            do_GET = do_POST = _reply

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture
def fake_cloud_run() -> Iterator[FakeCloudRun]:
    fake = FakeCloudRun().start()
    try:
        yield fake
    finally:
        fake.stop()
