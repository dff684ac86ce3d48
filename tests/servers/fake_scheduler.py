"""A local stand-in of Cloud Scheduler v1 `projects.locations.jobs` get and list, for the real
google-cloud-scheduler REST client (CloudSchedulerClient(transport="rest")).

As the API documents it:
- get: `GET /v1/projects/P/locations/L/jobs/J` answers the Job
  (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs/get); a job that does not
  exist answers 404 with the google.rpc.Status error body `{"error": {"code": 404, "message": ..., "status":
  "NOT_FOUND"}}` (https://cloud.google.com/apis/design/errors#http_mapping), which the client raises as NotFound.
- list: `GET /v1/projects/P/locations/L/jobs?pageSize=N&pageToken=T` answers `{"jobs": [...], "nextPageToken":
  ...}` (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs/list): "The maximum
  page size is 500. If unspecified, the page size will be the maximum"; nextPageToken is left out on the last
  page (proto3 JSON omits an empty string), and an empty location answers `{}`. A page token the server did not
  issue is 400 INVALID_ARGUMENT.
- Job JSON (https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job): `state`
  ENABLED / PAUSED / DISABLED / UPDATE_FAILED, `status` (google.rpc.Status of the last attempt; proto3 JSON
  omits a zero code, so a success is `{}`), `lastAttemptTime`, `scheduleTime`, `schedule`, `timeZone`.
  The client asks `$alt=json;enum-encoding=int`, so enums are answered as numbers then
  (https://google.aip.dev/127#json-representation and the client's rest transport), by name otherwise.

`page_size_cap` lets a test make pages small (the client must follow nextPageToken). `fault="server_error"`
answers 500 INTERNAL to every call.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any, Iterator

import pytest

from tests.servers.local_http import LocalHttpServer

MAX_PAGE_SIZE = 500
STATES = {"STATE_UNSPECIFIED": 0, "ENABLED": 1, "PAUSED": 2, "DISABLED": 3, "UPDATE_FAILED": 4}
LIST = re.compile(r"^/v1/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)/jobs$")
GET = re.compile(r"^/v1/(?P<name>projects/[^/]+/locations/[^/]+/jobs/[^/:]+)$")


def status_body(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


@dataclass
class FakeScheduler(LocalHttpServer):
    jobs: list[dict[str, Any]] = field(default_factory=list)
    """Job JSON with full names (projects/P/locations/L/jobs/ID), in the order listJobs answers them."""
    page_size_cap: int = MAX_PAGE_SIZE
    fault: str | None = None
    requests: list[str] = field(default_factory=list)

    def set_jobs(self, jobs: list[dict[str, Any]]) -> None:
        with self._lock:
            self.jobs = json.loads(json.dumps(jobs))

    def _wire(self, job: dict[str, Any], ints: bool) -> dict[str, Any]:
        if ints and "state" in job:
            return {**job, "state": STATES[job["state"]]}
        return job

    def answer(self, method: str, path: str) -> tuple[int, bytes]:
        with self._lock:
            self.requests.append(path)
            jobs, fault = list(self.jobs), self.fault
        route, _, query = path.partition("?")
        params = urllib.parse.parse_qs(query)
        ints = "enum-encoding=int" in (params.get("$alt") or [""])[0]
        if fault == "server_error":
            return 500, status_body(500, "INTERNAL", "Internal error encountered.")
        if method != "GET":
            return 404, status_body(404, "NOT_FOUND", f"no route {method} {route}")
        if (listing := LIST.match(route)):
            prefix = f"projects/{listing['project']}/locations/{listing['location']}/jobs/"
            mine = [j for j in jobs if str(j.get("name", "")).startswith(prefix)]
            size = int((params.get("pageSize") or ["0"])[0]) or MAX_PAGE_SIZE
            size = min(size, MAX_PAGE_SIZE, self.page_size_cap)
            token = (params.get("pageToken") or [""])[0]
            if token and not token.startswith("offset-"):
                return 400, status_body(400, "INVALID_ARGUMENT", "Invalid page token.")
            start = int(token.removeprefix("offset-")) if token else 0
            page: dict[str, Any] = {}
            if mine[start:start + size]:
                page["jobs"] = [self._wire(j, ints) for j in mine[start:start + size]]
            if start + size < len(mine):
                page["nextPageToken"] = f"offset-{start + size}"
            return 200, json.dumps(page).encode()
        if (one := GET.match(route)):
            found = next((j for j in jobs if j.get("name") == one["name"]), None)
            if found is None:
                return 404, status_body(404, "NOT_FOUND", "Job not found.")
            return 200, json.dumps(self._wire(found, ints)).encode()
        return 404, status_body(404, "NOT_FOUND", f"no route {method} {route}")

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                code, body = fake.answer(self.command, self.path)
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_POST = do_GET

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture
def fake_scheduler() -> Iterator[FakeScheduler]:
    fake = FakeScheduler().start()
    try:
        yield fake
    finally:
        fake.stop()
