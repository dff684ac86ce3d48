"""A local stand-in of Cloud Logging v2 `entries.list`, for google-cloud-logging's HTTP (JSON) client.

As the API documents it (https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list):
`POST /v2/entries:list` with `{"resourceNames": [...], "filter": ..., "orderBy": ..., "pageSize": N,
"pageToken": T}`; the answer is `{"entries": [...], "nextPageToken": ...}`. `orderBy` is "timestamp asc"
(the default) or "timestamp desc"; pageSize defaults to 50 and is at most 1000; the entries are of the
named resources (here: `projects/P`, matched on the entries' logName).

The filter is the Logging query language (https://cloud.google.com/logging/docs/view/logging-query-language).
This stand-in evaluates the part of it the canary sends: comparisons joined by AND, each `FIELD="v"`,
`FIELD=("a" OR "b")`, `FIELD=~"regex"` (RE2; Python's re covers the expressions used) or `timestamp>="t"`,
FIELD a dotted path into the entry. Anything else is answered as the API answers a filter it cannot parse:
400 INVALID_ARGUMENT. `fault="forbidden"` answers 403 PERMISSION_DENIED (the canary lacks logging.viewer).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler
from typing import Any, Callable, Iterator

import pytest

from tests.servers.local_http import LocalHttpServer

DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE = 50, 1000
TERM = re.compile(
    r'^(?P<field>[A-Za-z_][\w.@]*)\s*(?P<op>=~|>=|=)\s*'
    r'(?:"(?P<value>(?:[^"\\]|\\.)*)"|\((?P<values>\s*"[^"]*"(?:\s+OR\s+"[^"]*")*\s*)\))$'
)


def status_body(code: int, status: str, message: str) -> bytes:
    return json.dumps({"error": {"code": code, "message": message, "status": status}}).encode()


def _field(entry: dict[str, Any], path: str) -> Any:
    value: Any = entry
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def compile_filter(text: str) -> Callable[[dict[str, Any]], bool]:
    """The filter as a predicate; ValueError when it uses more of the language than this stand-in knows."""
    tests = []
    for term in re.split(r"\s+AND\s+", text.strip()) if text.strip() else []:
        match = TERM.match(term.strip())
        if not match:
            raise ValueError(f"unsupported filter term: {term}")
        name, op = match["field"], match["op"]
        if match["values"] is not None:
            wanted = set(re.findall(r'"([^"]*)"', match["values"]))
            tests.append(lambda e, n=name, w=wanted: _field(e, n) in w)
        elif op == "=~":
            pattern = re.compile(match["value"].replace('\\"', '"').replace("\\\\", "\\"))
            tests.append(lambda e, n=name, p=pattern: p.search(str(_field(e, n) or "")) is not None)
        elif op == ">=":
            floor = _time(match["value"])
            tests.append(lambda e, n=name, f=floor: _field(e, n) is not None and _time(str(_field(e, n))) >= f)
        else:
            tests.append(lambda e, n=name, v=match["value"]: _field(e, n) == v)
    return lambda entry: all(test(entry) for test in tests)


@dataclass
class FakeLogging(LocalHttpServer):
    entries: list[dict[str, Any]] = field(default_factory=list)
    fault: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)

    def set_entries(self, entries: list[dict[str, Any]]) -> None:
        with self._lock:
            self.entries = json.loads(json.dumps(entries))

    def answer(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        try:
            request = json.loads(body or b"{}")
        except json.JSONDecodeError:
            return 400, status_body(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        with self._lock:
            self.requests.append(request)
            entries, fault = list(self.entries), self.fault
        if (method, path.partition("?")[0]) != ("POST", "/v2/entries:list"):
            return 404, status_body(404, "NOT_FOUND", f"no route {method} {path}")
        if fault == "forbidden":
            return 403, status_body(403, "PERMISSION_DENIED", "Permission 'logging.views.access' denied on resource.")
        names = request.get("resourceNames") or []
        if not names:
            return 400, status_body(400, "INVALID_ARGUMENT", "resource_names must not be empty")
        try:
            keep = compile_filter(str(request.get("filter") or ""))
        except ValueError as error:
            return 400, status_body(400, "INVALID_ARGUMENT", f"Invalid filter: {error}")
        projects = [n for n in names if n.startswith("projects/")]
        mine = [e for e in entries if any(str(e.get("logName", "")).startswith(f"{p}/logs/") for p in projects) and keep(e)]
        order = str(request.get("orderBy") or "timestamp asc").strip().lower()
        if order not in ("timestamp asc", "timestamp desc"):
            return 400, status_body(400, "INVALID_ARGUMENT", f"Invalid order_by: {order}")
        mine.sort(key=lambda e: _time(str(e.get("timestamp"))), reverse=order.endswith("desc"))
        size = min(int(request.get("pageSize") or DEFAULT_PAGE_SIZE), MAX_PAGE_SIZE)
        start = int(str(request.get("pageToken") or "offset-0").removeprefix("offset-"))
        page: dict[str, Any] = {}
        if mine[start:start + size]:
            page["entries"] = mine[start:start + size]
        if start + size < len(mine):
            page["nextPageToken"] = f"offset-{start + size}"
        return 200, json.dumps(page).encode()

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                code, body = fake.answer(self.command, self.path, self.rfile.read(length) if length else b"")
                self.send_response(code)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler


@pytest.fixture
def fake_logging() -> Iterator[FakeLogging]:
    fake = FakeLogging().start()
    try:
        yield fake
    finally:
        fake.stop()
