"""A local HTTP server on 127.0.0.1 in a daemon thread, the base of the fakes and the fault proxy."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class LocalHttpServer:
    """start() listens on a free port; stop() releases answers still held (slow faults) and closes."""

    _port: int = field(default=0, init=False, repr=False)
    _server: ThreadingHTTPServer | None = field(default=None, init=False, repr=False)
    _thread: threading.Thread | None = field(default=None, init=False, repr=False)
    _release: threading.Event = field(default_factory=threading.Event, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        raise NotImplementedError

    @property
    def endpoint(self) -> str:
        assert self._port, "start() the server first"
        return f"http://127.0.0.1:{self._port}"

    def hold(self, seconds: float) -> None:
        """Wait `seconds`, or less if the server stops meanwhile."""
        self._release.wait(seconds)

    def _listen(self, port: int) -> None:
        self._server = ThreadingHTTPServer(("127.0.0.1", port), self.handler_class())
        self._server.daemon_threads = True
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=type(self).__name__, daemon=True
        )
        self._thread.start()

    def _close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def start(self):  # type: ignore[no-untyped-def]
        self._release.clear()
        self._listen(0)
        return self

    def stop(self) -> None:
        self._release.set()
        self._close()
