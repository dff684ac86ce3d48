"""The heartbeat against a real local HTTP server: pings, failures that never fail the run, no URL in errors."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Iterator

import pytest

from run.heartbeat import Heartbeat
from tests.conftest import run_cli
from tests.scenario import Scenario

T0 = "2026-11-21T23:30:00Z"


@pytest.fixture
def server() -> Iterator[tuple[str, list[str], dict[str, Any]]]:
    """Answers each POST with behaviour['status'] after behaviour['delay'] seconds; records the paths."""
    paths: list[str] = []
    behaviour: dict[str, Any] = {"status": 200, "delay": 0.0}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            paths.append(self.path)
            time.sleep(behaviour["delay"])
            self.send_response(behaviour["status"])
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/ping/secret-key", paths, behaviour
    httpd.shutdown()
    httpd.server_close()


def test_pings_start_success_and_fail(server):
    url, paths, _ = server
    beat = Heartbeat(url + "/")
    assert (beat.start(), beat.finish(ok=True), beat.finish(ok=False, body="x" * 50_000)) == ("ok", "ok", "ok")
    assert paths == ["/ping/secret-key/start", "/ping/secret-key", "/ping/secret-key/fail"]


def test_an_http_error_or_a_slow_server_is_reported_briefly_without_the_url(server):
    url, _, behaviour = server
    behaviour["status"] = 500
    assert Heartbeat(url).start() == "failed: HTTP 500"
    behaviour.update(status=200, delay=1.0)
    started = time.monotonic()
    result = Heartbeat(url, timeout=0.2).start()
    assert result.startswith("failed:") and "timed out" in result and time.monotonic() - started < 0.9
    assert "secret-key" not in result


def test_no_url_or_a_non_http_url_disables_it():
    assert Heartbeat(None).start() == "disabled" and not Heartbeat("").enabled
    beat = Heartbeat("file:///etc/passwd")
    assert not beat.enabled and "not an http(s) URL" in beat.start()


def test_the_cli_run_pings_too_and_a_dry_run_does_not(server, local_dir, monkeypatch):
    url, paths, behaviour = server
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", url)
    Scenario().write_local(local_dir)
    assert run_cli("run", "--json", "--now", T0, "--dry-run").code == 0
    assert paths == []
    assert run_cli("run", "--json", "--now", T0).code == 0
    assert paths == ["/ping/secret-key/start", "/ping/secret-key"]
    (local_dir / "iam_policies.json").write_text("oops", encoding="utf-8")
    behaviour["status"] = 503  # and the heartbeat service is down: the run's exit status is unchanged
    assert run_cli("run", "--json", "--now", T0).code == 0
    assert paths[2:] == ["/ping/secret-key/start", "/ping/secret-key/fail"]
