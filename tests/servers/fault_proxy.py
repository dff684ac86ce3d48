"""A tiny fault-injecting HTTP proxy: the real client talks real HTTP to it, it forwards to the real
local server, or answers with the fault a test switched on.

Faults (FAULTS): `timeout` holds the answer past any client timeout (released at stop), `forbidden`
answers 403 and `server_error` 500 (Google API error JSON, as BigQuery / Cloud Run send them),
`malformed` answers 200 with a truncated JSON body, `refused` closes the listening socket so
connections are refused; clearing the fault listens again on the same port.
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import urlsplit

from tests.servers.local_http import LocalHttpServer

FAULTS = ("timeout", "forbidden", "server_error", "malformed", "refused")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "proxy-connection"}


def google_error(code: int, status: str, reason: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"code": code, "message": message, "status": status,
                   "errors": [{"reason": reason, "message": message, "domain": "global"}]}}
    ).encode()


ANSWERS = {
    "forbidden": (403, google_error(403, "PERMISSION_DENIED", "accessDenied", "Access Denied: the caller lacks permission")),
    "server_error": (500, google_error(500, "INTERNAL", "internalError", "An internal error occurred.")),
    "malformed": (200, b'{"kind": "bigquery#queryResponse", "jobReference": {"projectId": '),
}


class FaultSwitch:
    """Switching a fault on and off, for a fault server that can close and re-open its listening port."""

    # Provided by the server class: its fault, its port and server (None while closed), _listen(port), _close().
    fault: str | None
    _port: int
    _server: Any

    def set_fault(self, fault: str | None) -> None:
        assert fault is None or fault in FAULTS, fault
        if fault == "refused":
            self._close()  # type: ignore[attr-defined]  # nothing listens: connections are refused
        elif self._server is None:
            self._listen(self._port)  # type: ignore[attr-defined]  # the same port again
        self.fault = fault

    def clear(self) -> None:
        self.set_fault(None)


@dataclass
class FaultProxy(FaultSwitch, LocalHttpServer):
    upstream: str
    """The real server, e.g. http://127.0.0.1:9050."""
    fault: str | None = None
    hold_seconds: float = 30.0
    delay_seconds: float = 0.0
    """Latency added to every forwarded answer (the concurrency benchmark)."""
    requests: int = 0
    faulted: int = 0

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        target = urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=60)
        try:
            headers = {k: v for k, v in headers.items() if k.lower() not in HOP_BY_HOP | {"host", "content-length"}}
            headers["Host"] = target.netloc
            connection.request(method, path, body=body or None, headers=headers)
            answer = connection.getresponse()
            data = answer.read()
            kept = [(k, v) for k, v in answer.getheaders() if k.lower() not in HOP_BY_HOP | {"content-length"}]
            return answer.status, kept, data
        finally:
            connection.close()

    def handle(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        with self._lock:
            self.requests += 1
            fault = self.fault
            if fault:
                self.faulted += 1
        if self.delay_seconds:
            self.hold(self.delay_seconds)
        if fault == "timeout":
            self.hold(self.hold_seconds)
            return 504, [("Content-Type", "application/json")], google_error(504, "DEADLINE_EXCEEDED", "timeout", "held")
        if fault in ANSWERS:
            status, payload = ANSWERS[fault]
            return status, [("Content-Type", "application/json; charset=UTF-8")], payload
        return self._forward(method, path, headers, body)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one connection per request, so `refused` also holds for clients with pooled connections.
            protocol_version = "HTTP/1.0"

            def _relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                try:
                    status, headers, data = proxy.handle(self.command, self.path, dict(self.headers.items()), body)
                except OSError as error:  # the upstream itself is gone
                    status, headers, data = 502, [("Content-Type", "text/plain")], f"proxy: {error}".encode()
                try:
                    self.send_response(status)
                    for name, value in headers:
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:
                    pass  # the client gave up waiting

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _relay

            def log_message(self, format: str, *args: Any) -> None:
                return None

        return Handler
