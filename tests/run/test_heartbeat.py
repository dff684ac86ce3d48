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


# --- issue 20, Why 3 and 9: a query string, a fragment, a user name in the URL ----------------------------
# healthchecks puts the signal in the path and keeps the query: `https://hc-ping.com/<uuid>/start?rid=<uuid>`
# (https://blog.healthchecks.io/2022/11/using-run-ids-to-track-run-times-of-overlapping-jobs/) and
# `https://hc-ping.com/<ping-key>/<slug>?create=1` (https://healthchecks.io/docs/slug_urls/).


@pytest.mark.parametrize("tail, query", [("?create=1", "create=1"), ("/?rid=5f2c6c1e-1d4b-4a4e-9c7e-3d2a1b0c9f8e", None),
                                         ("?create=1#mine", "create=1"), ("#only-a-fragment", "")])
def test_start_and_fail_go_into_the_path_before_the_query_and_no_fragment_is_sent(server, tail, query):
    url, paths, _ = server
    query = query if query is not None else tail.split("?", 1)[1]
    beat = Heartbeat(url + tail)
    assert (beat.start(), beat.finish(ok=True), beat.finish(ok=False)) == ("ok", "ok", "ok")
    suffix = f"?{query}" if query else ""
    assert paths == [f"/ping/secret-key/start{suffix}", f"/ping/secret-key{suffix}", f"/ping/secret-key/fail{suffix}"]


def test_a_failed_run_with_a_query_in_the_url_pings_the_fail_url_not_success(server, local_dir, monkeypatch):
    url, paths, _ = server
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", url + "?create=1")
    Scenario().write_local(local_dir)
    (local_dir / "iam_policies.json").write_text("oops", encoding="utf-8")
    assert run_cli("run", "--json", "--now", T0).code == 0
    assert paths == ["/ping/secret-key/start?create=1", "/ping/secret-key/fail?create=1"]


def test_a_user_and_password_in_the_url_is_refused_with_a_clear_message_that_quotes_neither(local_dir, monkeypatch):
    secret = "https://alice:hunter2-pass@hc-ping.example.com/ping/secret-key"
    beat = Heartbeat(secret)
    assert not beat.enabled and "user name or password" in beat.start()
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", secret)
    checked = run_cli("check-config")
    assert checked.code == 2 and "CANARY_HEARTBEAT_URL" in checked.stderr and "user name or password" in checked.stderr
    assert "hunter2-pass" not in checked.stdout + checked.stderr and "alice" not in checked.stderr


def test_the_fragment_and_the_password_of_the_url_are_scrubbed_from_any_output():
    from core.secrets import scrub, secret_values

    secrets = secret_values("https://bob:pa55word-xyz@hc-ping.com/0f3c2a1e-5b7d#fragment-secret-42")
    text = "error near 'fragment-secret-42' with 'pa55word-xyz'"
    assert "fragment-secret-42" not in scrub(text, secrets) and "pa55word-xyz" not in scrub(text, secrets)
