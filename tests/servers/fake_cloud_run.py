"""A local fake of the Cloud Run Admin API v2 `getIamPolicy`, for the real run_v2 REST client.

google-cloud-run's ServicesClient(transport="rest") sends
`GET /v2/projects/P/locations/R/services/S:getIamPolicy` (its http_options say "get") and parses the
JSON body into an iam_policy_pb2.Policy; a JSON error body with an HTTP status becomes the matching
google.api_core exception (404 -> NotFound, 403 -> Forbidden, 500 -> InternalServerError).

Policies are keyed by service name within one project/region; an unknown service (or another
project/region) answers 404. Policies are answered in the version the request asks for, as IAM does:
`options.requestedPolicyVersion` (a query parameter on this GET) below 3 turns a policy holding a
conditional binding into version 1 with the role renamed ROLE_withcond_HASH and the condition dropped
(https://cloud.google.com/iam/docs/troubleshooting-withcond); version 3 answers the conditions; a policy
without conditions answers version 1 whatever was asked ("The policy in the response might use the
policy version that you specified, or it might use a lower policy version",
https://cloud.google.com/iam/docs/reference/rest/v1/GetPolicyOptions).

The same server stands in for two more calls, for the tests' convenience (one endpoint):
- Cloud Run `GET /v2/projects/P/locations/R/services/S` (run_v2 `get_service`): the Service JSON set in
  `services` (`urls`, `uri`; https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services);
- Resource Manager v3 `POST /v3/projects/P:getIamPolicy` with `{"options": {"requestedPolicyVersion": N}}`
  in the body (https://cloud.google.com/resource-manager/reference/rest/v3/projects/getIamPolicy): the
  project's policy, versioned the same way; another project answers 403 PERMISSION_DENIED ("Permission is
  denied if the policy or the resource do not exist"). Faults are switched on per test: 403, 500, a malformed body, or a delay
(a hung API, released when the fake stops so no thread outlives the test).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest

from tests.servers.local_http import LocalHttpServer

PATH = re.compile(r"^/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/services/(?P<service>[^/:]+):getIamPolicy$")
SERVICE_PATH = re.compile(r"^/v2/projects/(?P<project>[^/]+)/locations/(?P<region>[^/]+)/services/(?P<service>[^/:]+)$")
PROJECT_PATH = re.compile(r"^/v3/projects/(?P<project>[^/:]+):getIamPolicy$")
FAULTS = ("forbidden", "server_error", "malformed", "slow")


def versioned(policy: dict[str, Any], requested: int) -> dict[str, Any]:
    """The policy as IAM answers it to a request for version `requested` (see the module docstring)."""
    bindings = [dict(b) for b in policy.get("bindings") or []]
    if not any(b.get("condition") for b in bindings):
        return {**policy, "bindings": bindings, "version": 1}
    if requested >= 3:
        return {**policy, "bindings": bindings, "version": 3}
    hidden = []
    for binding in bindings:
        condition = binding.pop("condition", None)
        if condition:
            digest = hashlib.sha1(json.dumps(condition, sort_keys=True).encode()).hexdigest()[:20]
            binding["role"] = f"{binding['role']}_withcond_{digest}"
        hidden.append(binding)
    return {**policy, "bindings": hidden, "version": 1}


def _requested_version(query: str) -> int:
    values = urllib.parse.parse_qs(query).get("options.requestedPolicyVersion") or ["0"]
    return int(values[0])


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
    project_policy: dict[str, Any] = field(default_factory=dict)
    """The project's policy (Resource Manager); empty = no project-level bindings."""
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Service JSON by name, for get_service."""
    denied_project: bool = False
    """The project's getIamPolicy answers 403 PERMISSION_DENIED (the canary lost its project-level read)."""
    denied_services: set[str] = field(default_factory=set)
    """Services whose every call answers 403 PERMISSION_DENIED (one unreadable service among readable ones)."""

    def set_policies(self, policies: dict[str, Any]) -> None:
        with self._lock:
            self.policies = json.loads(json.dumps(policies))

    def answer(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        with self._lock:
            self.requests.append((method, path))
            fault, policies, denied = self.fault, self.policies, set(self.denied_services)
        if self.delay_seconds:
            self.hold(self.delay_seconds)
        route, _, query = path.partition("?")
        policy_route, service_route, project_route = PATH.match(route), SERVICE_PATH.match(route), PROJECT_PATH.match(route)
        if not ((method == "GET" and (policy_route or service_route)) or (method == "POST" and project_route)):
            return 404, _status_body(404, "NOT_FOUND", f"no route {method} {path}")
        named = policy_route or service_route
        if fault == "forbidden" or (named and named["service"] in denied):
            return 403, _status_body(
                403, "PERMISSION_DENIED", f"Permission denied on resource '{route.removeprefix('/v2/').removeprefix('/v3/')}'",
            )
        if fault == "server_error":
            return 500, _status_body(500, "INTERNAL", "Internal error encountered.")
        if fault == "malformed":
            return 200, b'{"bindings": [{"role": "roles/run.invoker", "members": ['
        if fault == "slow":
            self.hold(self.slow_seconds)
            return 503, _status_body(503, "UNAVAILABLE", "the fake was stopped while holding this answer")
        if project_route:
            if project_route["project"] != self.project or self.denied_project:
                return 403, _status_body(403, "PERMISSION_DENIED", f"The caller does not have permission on projects/{project_route['project']}")
            options = json.loads(body or b"{}").get("options") or {}
            return 200, json.dumps(versioned(self.project_policy, int(options.get("requestedPolicyVersion") or 0))).encode()
        assert named is not None
        here = (named["project"], named["region"]) == (self.project, self.region)
        if service_route:
            if not here or named["service"] not in self.services:
                return 404, _status_body(404, "NOT_FOUND", f"Resource '{named['service']}' of kind 'SERVICE' was not found.")
            return 200, json.dumps(self.services[named["service"]]).encode()
        if not here or named["service"] not in policies:
            return 404, _status_body(404, "NOT_FOUND", f"Resource '{named['service']}' of kind 'SERVICE' was not found.")
        return 200, json.dumps(versioned(policies[named["service"]], _requested_version(query))).encode()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request_body = self.rfile.read(length) if length else b""
                code, body = fake.answer(self.command, self.path, request_body)
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
