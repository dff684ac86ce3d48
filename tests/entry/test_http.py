"""The HTTP function as Cloud Scheduler and people call it: parameters, errors, statuses, logs, heartbeat.

Every test goes through functions-framework's own app (`create_app(...).test_client()`) on the local
backend; the last one starts the real `functions-framework` server and POSTs to it like Cloud Scheduler.
"""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import functions_framework
import pytest

from entry.http import MAX_BODY_BYTES
from tests.conftest import PROJECT_ROOT
from tests.production import PRODUCTION_TOML, production_toml
from tests.scenario import Scenario, local

D = date(2026, 11, 21)
T0 = "2026-11-21T23:30:00Z"  # 18:30 in New York
TOKEN = "xoxb-FAKE-4242424242-canary-secret-token-Zq9"
BROKEN = "phase4-to-phase5-orchestrator"


def broken_day() -> Scenario:
    """A missing invoker binding and the stall it causes: two critical findings."""
    return Scenario().policy(BROKEN, {"bindings": []}).phase_complete(D, "phase_4_precompute", local(D, "07:00"))


@dataclass
class App:
    client: Any
    module: Any
    """The main module functions-framework loaded (its per-instance globals)."""


@pytest.fixture
def make_app(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # create_app loads main.py afresh and registers it as sys.modules["main"]; put the original back.
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])

    def make() -> App:
        app = functions_framework.create_app(target="run_canary", source=str(PROJECT_ROOT / "main.py"))
        return App(client=app.test_client(), module=sys.modules["main"])

    yield make


@pytest.fixture
def app(make_app: Any, local_dir: Path) -> App:
    broken_day().write_local(local_dir)
    return make_app()


def log_lines(capsys: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """Every stdout line must be one JSON object (Cloud Logging's structured log)."""
    out = capsys.readouterr().out
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def jsonl(local_dir: Path) -> list[dict[str, Any]]:
    path = local_dir / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.is_file() else []


def problems(report: dict[str, Any]) -> list[tuple[str, str]]:
    return sorted((f["monitor"], f["key"].get("problem", "")) for f in report["findings"])


# --- runs and statuses --------------------------------------------------------------------------


def test_a_scheduler_post_runs_every_monitor_delivers_and_logs_one_structured_line(app, local_dir, capsys):
    response = app.client.post("/", json={"now": T0})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    report = response.get_json()
    assert [m["name"] for m in report["monitors"]] == ["orchestrator_iam", "push_delivery", "phase_stalls", "missing_predictions", "scheduler_jobs"]
    assert problems(report) == [
        ("orchestrator_iam", "missing_invoker"), ("phase_stalls", "stalled"), ("push_delivery", "push_account_cannot_invoke"),
    ]
    assert [(n["reason"], n["delivered"]) for n in report["notifications"]] == [("first", True)] * 3
    assert len(jsonl(local_dir)) == 3
    [line] = log_lines(capsys)
    assert line["severity"] == "INFO" and line["message"] == "pipeline-canary run completed"
    assert line["event"] == "canary_run" and line["run_id"] == report["run_id"]
    assert line["outcomes"] == {"orchestrator_iam": "firing", "push_delivery": "firing", "phase_stalls": "firing", "missing_predictions": "no_data",
                                "scheduler_jobs": "ok"}
    assert line["notifications_delivered"] == 3 and line["duration_ms"] > 0
    again = app.client.post("/", json={"now": T0})
    assert again.status_code == 200 and again.get_json()["notifications"] == []  # deduplicated


def test_get_with_query_parameters_runs_the_named_monitors_as_a_dry_run(app, local_dir):
    response = app.client.get(f"/?monitors=orchestrator_iam,%20phase_stalls&dry_run=true&now={T0}")
    assert response.status_code == 200
    report = response.get_json()
    assert report["dry_run"] is True
    assert [m["name"] for m in report["monitors"]] == ["orchestrator_iam", "phase_stalls"]
    assert [n["delivered"] for n in report["notifications"]] == [False, False]
    assert jsonl(local_dir) == [] and not (local_dir / "notifications.jsonl").exists()


@pytest.mark.parametrize("monitors", [["orchestrator_iam"], "orchestrator_iam", " orchestrator_iam ,"])
def test_monitors_as_a_json_list_or_a_comma_string(app, monitors):
    response = app.client.post("/", json={"monitors": monitors, "now": T0, "dry_run": True})
    assert response.status_code == 200
    assert [m["name"] for m in response.get_json()["monitors"]] == ["orchestrator_iam"]


@pytest.mark.parametrize(("given", "expected"), [("true", True), ("1", True), ("FALSE", False), ("no", False), (True, True), (False, False)])
def test_dry_run_forms(app, local_dir, given, expected):
    response = app.client.post("/", json={"dry_run": given, "now": T0, "monitors": "orchestrator_iam"})
    assert response.status_code == 200
    assert response.get_json()["dry_run"] is expected
    assert len(jsonl(local_dir)) == (0 if expected else 1)


def test_date_checks_that_league_local_game_date(make_app, local_dir):
    scenario = broken_day()
    scenario.game(D, "G1", start=local(D, "19:00"))  # today's game, no predictions
    yesterday = date(2026, 11, 20)
    scenario.game(yesterday, "G0", start=local(yesterday, "19:00")).predictions(
        yesterday, "G0", created_at=local(yesterday, "12:00")
    )
    scenario.write_local(local_dir)
    app = make_app()
    today = app.client.get(f"/?monitors=missing_predictions&dry_run=1&now={T0}&date=2026-11-21").get_json()
    assert [(f["key"]["game_date"], f["key"]["problem"]) for f in today["findings"]] == [("2026-11-21", "none")]
    before = app.client.get(f"/?monitors=missing_predictions&dry_run=1&now={T0}&date=2026-11-20").get_json()
    assert before["findings"] == [] and before["monitors"][0]["outcome"] == "ok"


def test_a_failed_delivery_answers_503_so_cloud_scheduler_retries(app, local_dir, capsys):
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "notifications.jsonl").mkdir()  # the local notifier cannot append: delivery fails
    response = app.client.post("/", json={"now": T0})
    assert response.status_code == 503
    report = response.get_json()
    assert report["notifications"] and all(n["error"] and not n["delivered"] for n in report["notifications"])
    [line] = log_lines(capsys)
    assert line["severity"] == "ERROR" and line["notifications_failed"] == 3
    (local_dir / "notifications.jsonl").rmdir()
    retry = app.client.post("/", json={"now": T0})  # Cloud Scheduler's retry delivers them
    assert retry.status_code == 200 and [n["delivered"] for n in retry.get_json()["notifications"]] == [True] * 3


def test_an_errored_monitor_answers_200_with_the_error_listed_and_its_degraded_alert(app, local_dir, capsys):
    (local_dir / "iam_policies.json").write_text("{not json", encoding="utf-8")
    response = app.client.post("/", json={"now": T0})
    assert response.status_code == 200
    report = response.get_json()
    iam = next(m for m in report["monitors"] if m["name"] == "orchestrator_iam")
    assert iam["outcome"] == "error" and "not valid JSON" in iam["error"] and iam["source"] == "iam_file"
    assert ("canary", "error") in problems(report)
    assert all(n["delivered"] for n in report["notifications"])
    [line] = log_lines(capsys)
    assert line["severity"] == "WARNING" and line["errored_monitors"] == ["orchestrator_iam", "push_delivery"]


# --- bad requests: 400 / 404 / 405 / 413, JSON naming the problem ------------------------------------


def assert_json_error(response: Any, status: int, *needles: str) -> dict[str, Any]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    for needle in needles:
        assert needle in body["error"], body
    return body


@pytest.mark.parametrize(
    ("query", "body", "needles"),
    [
        ("?foo=1", None, ("foo: unknown parameter", "known: action, monitors, dry_run, date, now")),
        ("", {"monitor": "orchestrator_iam"}, ("monitor: unknown parameter",)),
        ("?dry_run=maybe", None, ("dry_run: expected true or false",)),
        ("", {"dry_run": 1}, ("dry_run: expected true or false",)),
        ("?date=2026-13-01", None, ("date: expected a league-local game date YYYY-MM-DD",)),
        ("?date=20261121", None, ("date: expected a league-local game date",)),
        ("", {"date": 20261121}, ("date: expected a league-local game date",)),
        ("?now=yesterday", None, ("now: expected an ISO 8601 time with a UTC offset",)),
        ("?now=2026-11-21T23:30:00", None, ("now: give a UTC offset",)),
        ("?monitors=", None, ("monitors: give at least one monitor name",)),
        ("", {"monitors": [1, 2]}, ("monitors: expected a comma-separated string or a JSON list",)),
        ("?monitors=nope", None, ("monitors: unknown monitor 'nope'", "orchestrator_iam")),
        ("?action=explode", None, ("action: expected 'run' or 'test_alert'",)),
        ("?dry_run=1&dry_run=0", None, ("'dry_run' is given more than once",)),
        ("?dry_run=1", {"dry_run": False}, ("'dry_run' is given in both the query string and the body",)),
        ("", {"action": "test_alert", "dry_run": True}, ("dry_run: does not apply to action=test_alert",)),
    ],
)
def test_bad_parameters_get_400_naming_the_problem(app, local_dir, capsys, query, body, needles):
    response = app.client.post("/" + query, json=body) if body is not None else app.client.post("/" + query)
    assert_json_error(response, 400, *needles)
    assert jsonl(local_dir) == []
    [line] = log_lines(capsys)
    assert line["event"] == "canary_rejected" and line["status"] == 400


@pytest.mark.parametrize(
    ("data", "content_type", "needle"),
    [
        ("dry_run=true", "application/x-www-form-urlencoded", "request body is not JSON"),
        ("{'dry_run': true}", "application/json", "request body is not JSON"),
        (b"\xff\xfe{}", "application/json", "request body is not JSON"),
        ('["dry_run"]', "application/json", "request body must be a JSON object, not list"),
        ("null", "application/json", "request body must be a JSON object, not NoneType"),
    ],
)
def test_a_body_that_is_not_a_json_object_gets_400(app, data, content_type, needle):
    assert_json_error(app.client.post("/", data=data, content_type=content_type), 400, needle)


def test_an_empty_body_is_no_parameters(app):
    response = app.client.post("/", data="", content_type="application/json", query_string={"now": T0, "dry_run": "1"})
    assert response.status_code == 200


def test_a_too_large_body_gets_413(app):
    big = json.dumps({"monitors": "orchestrator_iam", "pad": "x" * MAX_BODY_BYTES})
    assert_json_error(app.client.post("/", data=big, content_type="application/json"), 413, "too large", str(MAX_BODY_BYTES))


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "OPTIONS"])
def test_a_wrong_method_gets_405_with_allow(app, method):
    response = app.client.open("/", method=method)
    assert_json_error(response, 405, f"method {method} not allowed", "GET or POST")
    assert response.headers["Allow"] == "GET, POST"


def test_an_unknown_path_gets_404_json(app):
    assert_json_error(app.client.post("/run-everything"), 404, "no such path '/run-everything'")


# --- health, configuration, crashes -------------------------------------------------------------------


def test_health_answers_without_touching_any_source(make_app, local_dir, monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    app = make_app()
    built = []
    monkeypatch.setattr(app.module, "build_canary", lambda *a, **k: built.append(1))
    for path in ("/healthz", "/health"):
        response = app.client.get(path)
        assert response.status_code == 200 and response.get_json() == {"status": "ok"}
    assert app.client.head("/healthz").status_code == 200
    assert_json_error(app.client.post("/healthz"), 405, "method POST not allowed", "GET or HEAD")
    assert built == [] and not local_dir.exists() and app.module._instance is None


def test_health_says_503_with_the_reason_when_the_configuration_does_not_load(make_app, local_dir, monkeypatch, tmp_path):
    """Issue 20, Why 10: /health said ok with a broken configuration, while every run answered 500."""
    app = make_app()
    monkeypatch.setenv("CANARY_BACKEND", "cloud")
    assert_json_error(app.client.get("/health"), 503, "configuration error", "CANARY_BACKEND")
    monkeypatch.delenv("CANARY_BACKEND")
    monkeypatch.setenv("CANARY_CONFIG", str(tmp_path / "missing.toml"))
    for path in ("/health", "/healthz"):
        body = assert_json_error(app.client.get(path), 503, "configuration error", "missing.toml")
        assert body["status"] == "error"
    assert app.client.head("/health").status_code == 503
    assert app.module._instance is None and not local_dir.exists()


@pytest.mark.parametrize("query", ["", "?monitors=orchestrator_iam", "?action=test_alert", "?action=test_alert&dry_run=true",
                                   "?dry_run=false"])
def test_a_get_never_runs_for_real_nor_sends_it_needs_post(app, local_dir, query):
    """Issue 20, Why 10: a plain `GET /` (a crawler, a link preview) ran the monitors and posted to Slack."""
    broken_day().write_local(local_dir)
    response = app.client.get("/" + query)
    assert_json_error(response, 405, "needs POST", "dry_run=true")
    assert response.headers["Allow"] == "POST" and jsonl(local_dir) == []
    assert app.client.get(f"/?dry_run=true&now={T0}").status_code == 200 and jsonl(local_dir) == []


def test_the_canary_is_built_once_per_instance_on_first_request(app, monkeypatch):
    calls = []
    real = app.module.build_canary

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(app.module, "build_canary", counting)
    assert app.module._instance is None  # importing main built nothing
    for _ in range(3):
        assert app.client.get(f"/?dry_run=1&now={T0}&monitors=orchestrator_iam").status_code == 200
    assert calls == [{"console": None}]


def test_a_broken_deploy_configuration_is_a_loud_500_naming_the_file_and_key(make_app, local_dir, tmp_path, monkeypatch, capsys):
    config = tmp_path / "canary.toml"
    config.write_text(production_toml('monitor_timeout = "60s"', 'monitor_timeout = "soon"'), encoding="utf-8")
    monkeypatch.setenv("CANARY_CONFIG", str(config))
    broken_day().write_local(local_dir)
    app = make_app()
    body = assert_json_error(app.client.post("/", json={"now": T0}), 500, "configuration error", str(config), "monitor_timeout")
    assert body["run_id"]
    [line] = log_lines(capsys)
    assert line["severity"] == "ERROR" and line["event"] == "canary_config_error" and "monitor_timeout" in line["error"]
    config.write_text(PRODUCTION_TOML, encoding="utf-8")  # fixed without a redeploy: the next request builds
    assert app.client.post("/", json={"now": T0}).status_code == 200


def test_a_bad_environment_setting_is_a_500_naming_the_variable(make_app, local_dir, monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "cloud")
    app = make_app()
    assert_json_error(app.client.post("/", json={"now": T0}), 500, "configuration error", "CANARY_BACKEND")


def test_now_is_refused_outside_the_local_backend(app, monkeypatch):
    from run.configure import load_settings

    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    real = app.module.build_canary
    # Build the local objects for this check: it is about the settings, not the Google clients.
    monkeypatch.setattr(app.module, "build_canary", lambda settings, config, **kw: real(
        settings.model_copy(update={"backend": "local"}), config, **kw))
    assert load_settings().backend == "gcp"
    assert_json_error(app.client.post("/", json={"now": T0}), 400, "now: only accepted on the local backend")
    assert app.client.post("/", json={"dry_run": True, "monitors": "orchestrator_iam"}).status_code == 200


def test_an_unexpected_exception_is_500_internal_error_with_the_detail_only_in_the_log(app, monkeypatch, capsys):
    import run.observe

    def explode(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database exploded")

    monkeypatch.setattr(run.observe, "execute", explode)
    response = app.client.post("/", json={"now": T0})
    body = assert_json_error(response, 500, "internal error")
    assert set(body) == {"error", "run_id"} and "exploded" not in response.get_data(as_text=True)
    [line] = log_lines(capsys)
    assert line["severity"] == "ERROR" and line["run_id"] == body["run_id"]
    assert line["error"] == "RuntimeError: database exploded" and "explode" in line["traceback"]


# --- the test alert action ------------------------------------------------------------------------------


def test_action_test_alert_sends_the_synthetic_alert_and_its_resolution(app, local_dir, capsys):
    response = app.client.post("/", json={"action": "test_alert"})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["action"] == "test_alert" and body["delivered"] is True and body["error"] is None
    assert body["run_id"] and [n["reason"] for n in body["notifications"]] == ["first", "resolved"]
    assert [entry["reason"] for entry in jsonl(local_dir)] == ["first", "resolved"]  # through the real notifier
    [line] = log_lines(capsys)
    assert line["event"] == "canary_test_alert" and line["delivered"] is True and line["severity"] == "INFO"


def test_a_test_alert_that_cannot_be_delivered_answers_503(app, local_dir, capsys):
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "notifications.jsonl").mkdir()
    response = app.client.post("/?action=test_alert")
    assert response.status_code == 503
    assert response.get_json()["delivered"] is False and "cannot append" in response.get_json()["error"]
    [line] = log_lines(capsys)
    assert line["severity"] == "ERROR" and line["delivered"] is False


# --- watching the watcher: the heartbeat ---------------------------------------------------------------


@dataclass
class PingServer:
    url: str
    pings: list[tuple[str, str]] = field(default_factory=list)


@pytest.fixture
def ping_server() -> Iterator[PingServer]:
    record: list[tuple[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            record.append((self.path, self.rfile.read(length).decode()))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield PingServer(url=f"http://127.0.0.1:{server.server_port}/ping/5e1f-secret-uuid", pings=record)
    server.shutdown()
    server.server_close()


def test_heartbeat_pings_start_then_success(app, ping_server, monkeypatch, capsys):
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", ping_server.url)
    assert app.client.post("/", json={"now": T0}).status_code == 200
    assert [path for path, _ in ping_server.pings] == ["/ping/5e1f-secret-uuid/start", "/ping/5e1f-secret-uuid"]
    assert json.loads(ping_server.pings[1][1])["event"] == "canary_run"  # the run's log line as the ping body
    [line] = log_lines(capsys)
    assert line["heartbeat"] == {"start": "ok", "success": "ok"}
    assert "5e1f-secret-uuid" not in json.dumps(line)


def test_heartbeat_pings_fail_when_a_monitor_errored_or_a_delivery_failed(app, local_dir, ping_server, monkeypatch):
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", ping_server.url)
    (local_dir / "iam_policies.json").write_text("[]", encoding="utf-8")
    assert app.client.post("/", json={"now": T0}).status_code == 200
    (local_dir / "iam_policies.json").unlink()
    broken_day().write_local(local_dir)
    (local_dir / "notifications.jsonl").unlink()
    (local_dir / "notifications.jsonl").mkdir()
    assert app.client.post("/", json={"now": T0}).status_code == 503
    assert [path.rsplit("/", 1)[-1] for path, _ in ping_server.pings] == ["start", "fail", "start", "fail"]


def test_a_dry_run_or_a_rejected_request_does_not_ping(app, ping_server, monkeypatch):
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", ping_server.url)
    assert app.client.post("/", json={"now": T0, "dry_run": True}).status_code == 200
    assert app.client.post("/", json={"bogus": 1}).status_code == 400
    assert ping_server.pings == []


def test_an_unreachable_heartbeat_never_fails_the_run_nor_shows_its_url(app, monkeypatch, capsys):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed once the block ends: connection refused
    url = f"http://127.0.0.1:{port}/ping/dead-secret-uuid"
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", url)
    response = app.client.post("/", json={"now": T0})
    assert response.status_code == 200
    [line] = log_lines(capsys)
    assert line["heartbeat"]["start"].startswith("failed:") and line["heartbeat"]["success"].startswith("failed:")
    assert "dead-secret-uuid" not in json.dumps(line) + response.get_data(as_text=True)


# --- no secret anywhere ------------------------------------------------------------------------------


def test_the_slack_token_appears_in_no_log_line_report_or_error(make_app, local_dir, monkeypatch, capfd, tmp_path):
    monkeypatch.setenv("CANARY_SLACK_BOT_TOKEN", TOKEN)
    broken_day().write_local(local_dir)
    app = make_app()
    bodies = []

    def call(*args: Any, **kwargs: Any) -> int:
        response = app.client.post(*args, **kwargs)
        bodies.append(response.get_data(as_text=True))
        return response.status_code

    assert call("/", json={"now": T0}) == 200  # findings delivered
    (local_dir / "iam_policies.json").write_text(f'{{"{TOKEN}": ', encoding="utf-8")  # an error quoting the file
    assert call("/", json={"now": T0}) == 200
    broken_day().write_local(local_dir)
    (local_dir / "notifications.jsonl").rename(tmp_path / "moved.jsonl")
    (local_dir / "notifications.jsonl").mkdir()
    assert call("/", json={"now": T0, "monitors": "orchestrator_iam"}) == 503  # a failing delivery (resolved notice)
    assert call(f"/?monitors={TOKEN}") == 400  # a caller pasting it into a parameter
    assert call("/", json={TOKEN: True}) == 400

    import run.observe

    def leak(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"auth failed for token {TOKEN}")

    monkeypatch.setattr(run.observe, "execute", leak)
    assert call("/", json={"now": T0}) == 500  # a crash whose message holds the token
    captured = capfd.readouterr()
    logged = captured.out + captured.err
    assert logged.count('"event":"canary_run"') == 3 and "auth failed for token [redacted]" in logged
    for text in [logged, *bodies, (tmp_path / "moved.jsonl").read_text()]:
        assert TOKEN not in text
        assert TOKEN[5:25] not in text


# --- over real HTTP, exactly as Cloud Scheduler calls it ---------------------------------------------------


def scheduler_body() -> str:
    """The --message-body deploy.sh gives the Cloud Scheduler job."""
    plan = subprocess.run(["bash", str(PROJECT_ROOT / "deploy.sh"), "--plan"], capture_output=True, text=True, timeout=30)
    assert plan.returncode == 0, plan.stderr
    for line in plan.stdout.splitlines():
        if "scheduler jobs create http" in line or "scheduler jobs update http" in line:
            import shlex

            for arg in shlex.split(line.removeprefix("+ ")):
                if arg.startswith("--message-body="):
                    return arg.removeprefix("--message-body=")
    raise AssertionError("deploy.sh --plan shows no scheduler job with --message-body")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_a_real_functions_framework_server_answers_a_cloud_scheduler_post(local_dir, tmp_path):
    broken_day().write_local(local_dir)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANARY_")}
    env.update(CANARY_LOCAL_DIR=str(local_dir), CANARY_BACKEND="local", CANARY_SLACK_BOT_TOKEN=TOKEN, PYTHONUNBUFFERED="1")
    out, err = tmp_path / "server.out", tmp_path / "server.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            [str(Path(sys.executable).parent / "functions-framework"), "--target", "run_canary", "--source",
             str(PROJECT_ROOT / "main.py"), "--host", "127.0.0.1", "--port", str(port)],
            cwd=PROJECT_ROOT, env=env, stdout=stdout, stderr=stderr, start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/health")
                assert conn.getresponse().status == 200
                break
            except (ConnectionError, OSError):
                assert server.poll() is None, err.read_text()
                assert time.monotonic() < deadline, "functions-framework did not start in 20 s"
                time.sleep(0.1)
        body = scheduler_body()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.request("POST", "/", body=body.encode(), headers={
            "User-Agent": "Google-Cloud-Scheduler",
            "Content-Type": "application/json",
            "Authorization": "Bearer eyJhbGciOiJSUzI1NiJ9.fake-oidc-token.sig",
            "X-CloudScheduler": "true",
            "X-CloudScheduler-JobName": "pipeline-canary",
            "X-CloudScheduler-ScheduleTime": "2026-11-21T23:30:00.000Z",
        })
        response = conn.getresponse()
        text = response.read().decode()
        assert response.status == 200, text
        assert response.getheader("Content-Type") == "application/json"
        report = json.loads(text)
        assert report["dry_run"] is False
        assert [m["name"] for m in report["monitors"]] == ["orchestrator_iam", "push_delivery", "phase_stalls", "missing_predictions", "scheduler_jobs"]
        assert all(m["outcome"] != "error" for m in report["monitors"]), report["monitors"]
        assert ("orchestrator_iam", "missing_invoker") in problems(report)
        assert all(n["delivered"] for n in report["notifications"]) and report["notifications"]
        # A chunked body over the limit is refused too (no Content-Length to check up front).
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/", body=iter([b"{" + b" " * MAX_BODY_BYTES, b"}"]),
                     headers={"Content-Type": "application/json"}, encode_chunked=True)
        big = conn.getresponse()
        assert big.status == 413 and "too large" in json.loads(big.read())["error"]
        # Broken chunked framing (a chunk far longer than it says) is the caller's fault: 400, not 500.
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.request("POST", "/", body=iter([b"{" + b" " * MAX_BODY_BYTES]),
                     headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"})
        broken = conn.getresponse()
        assert broken.status == 400 and "cannot read the request body" in json.loads(broken.read())["error"]
    finally:
        os.kill(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    logged = out.read_text() + err.read_text()
    runs = [json.loads(line) for line in out.read_text().splitlines() if '"event":"canary_run"' in line]
    assert [r["run_id"] for r in runs] == [report["run_id"]]
    assert TOKEN not in logged and "fake-oidc-token" not in logged


def test_get_incidents_says_no_data_from_the_records(make_app, local_dir):
    """Issue 22 item 1 over HTTP: the demo, a run two hours on (its push counts have ended), then GET /incidents."""
    from datetime import datetime, timedelta

    from tests.conftest import run_cli

    demo = run_cli("demo", "--history-days", "0", "--json")
    assert demo.code == 0
    later = (datetime.fromisoformat(demo.report["now"]) + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert run_cli("run", "--now", later).code == 0
    answer = make_app().client.get("/incidents")
    assert answer.status_code == 200
    listed = answer.get_json()["incidents"]
    no_data = sorted((i["key"]["problem"], i["key"]["service"]) for i in listed if i["state"] == "no_data")
    assert no_data == [("backlog", "nba-phase4-precompute-processors")]  # the push metrics end; the IAM reads do not
    assert all(i["no_data_since"] == later for i in listed if i["state"] == "no_data")
    assert all(i["no_data_since"] is None for i in listed if i["state"] == "firing")
