"""Issue 11: hostile or malformed input never stops a run, forges an alert or leaks a secret.

One test (or property) per numbered defect of the issue, on the backend where it was seen; each
failed on the code before the fix. The HTTP fuzz at the end is bounded in count and time and runs
through functions-framework's test client (no socket at all).
"""

from __future__ import annotations

import io
import json
import sys
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import main
import core.config as config_module
import core.inputs as inputs
from core.config import Settings
from core.inputs import parse_game_date, parse_instant
from core.secrets import scrub, secret_values
from run.heartbeat import Heartbeat
from tests.conftest import run_cli
from tests.test_http import T0, App, assert_json_error, broken_day, make_app  # noqa: F401  (make_app: fixture)

UUID = "0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d"
BAD_HEARTBEAT = f"https://[hc-ping.com]/{UUID}"
"""A bracketed host that is not an IPv6 address: urllib.parse raises on it (issue 11, defect 1)."""


def leaks(text: str) -> list[str]:
    return [piece for piece in (UUID, "hc-ping.com", BAD_HEARTBEAT) if piece in text]


# --- 1. a malformed optional setting never stops monitoring -------------------------------------------


def test_1_a_malformed_heartbeat_url_does_not_stop_a_cli_run_it_raises_canary_degraded(local_dir, monkeypatch):
    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", BAD_HEARTBEAT)
    result = run_cli("run", "--now", T0, "--json")
    assert result.code == 0, result.stderr
    report = result.report
    assert {m["name"]: m["outcome"] for m in report["monitors"]} == {
        "orchestrator_iam": "firing", "phase_stalls": "firing", "missing_predictions": "ok",
    } or all(m["outcome"] != "error" for m in report["monitors"])
    degraded = [f for f in report["findings"] if f["key"].get("setting") == "CANARY_HEARTBEAT_URL"]
    assert len(degraded) == 1 and degraded[0]["monitor"] == "canary" and degraded[0]["severity"] == "warning"
    assert "bracketed host" in degraded[0]["details"]["error"] or "bad host" in degraded[0]["details"]["error"]
    # Delivered with everything else that was due, and said nowhere with the URL or a piece of it.
    assert all(n["delivered"] for n in report["notifications"]) and len(report["notifications"]) >= 3
    assert leaks(result.stdout + result.stderr) == []
    [line] = [json.loads(x) for x in result.stderr.splitlines() if x.startswith("{")]
    assert "heartbeat disabled" in line["heartbeat"]["start"]


def test_1_the_degraded_setting_resolves_once_the_setting_is_fixed(local_dir, monkeypatch):
    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", BAD_HEARTBEAT)
    assert run_cli("run", "--now", T0).code == 0
    monkeypatch.delenv("CANARY_HEARTBEAT_URL")
    later = run_cli("run", "--now", "2026-11-21T23:45:00Z", "--json")
    resolved = [n for n in later.report["notifications"] if n["reason"] == "resolved"]
    assert len(resolved) == 1 and resolved[0]["delivered"]


def test_1_a_malformed_heartbeat_url_does_not_stop_an_http_run(make_app, local_dir, monkeypatch, capsys):
    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", BAD_HEARTBEAT)
    response = make_app().client.post("/", json={"now": T0})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert any(f["key"].get("setting") == "CANARY_HEARTBEAT_URL" for f in body["findings"])
    assert leaks(response.get_data(as_text=True) + capsys.readouterr().out) == []


@pytest.mark.parametrize("url", [BAD_HEARTBEAT, "https://", "https://exa mple.com/x", "ftp://hc-ping.com/x",
                                 "https://hc-ping.com:99999/x", "https://[::1/x", "https://\x1b[31m/x"])
def test_1_the_heartbeat_never_raises_on_any_url(url):
    beat = Heartbeat(url)
    assert not beat.enabled and beat.problem and "CANARY_HEARTBEAT_URL" in beat.problem
    assert beat.start() == beat.problem and url not in beat.problem
    assert Settings(heartbeat_url=url).problems().keys() == {"CANARY_HEARTBEAT_URL"}


@given(st.text(max_size=80))
@settings(max_examples=300, deadline=None)
def test_1_property_any_heartbeat_value_is_a_problem_or_a_url_never_an_exception(text):
    problem = config_module.url_problem(text)
    beat = Heartbeat(text)  # never raises
    assert beat.enabled == (bool(text) and problem is None)


def test_1_fragments_of_the_heartbeat_url_are_scrubbed_everywhere():
    secrets = secret_values(BAD_HEARTBEAT)
    line = f"ValueError: Invalid IPv6 URL: '[hc-ping.com]' in /{UUID}"
    assert leaks(scrub(line, secrets)) == []


# --- 4. inputs at the edges are bad input, never internal errors --------------------------------------


@pytest.mark.parametrize("flag, value", [
    ("--now", "0001-01-01T00:00:00Z"), ("--now", "0001-01-01T00:00:00+01:00"), ("--now", "9999-12-31T23:59:59-12:00"),
    ("--now", "1970-01-01T00:00:00Z"), ("--date", "0001-01-01"), ("--date", "9999-12-31"),
])
def test_4_calendar_extremes_on_the_cli_exit_2_naming_the_flag(local_dir, flag, value):
    broken_day().write_local(local_dir)
    result = run_cli("run", flag, value)
    assert result.code == 2, result.stderr
    assert result.stderr.startswith(f"error: {flag}: ") and "supported range" in result.stderr
    assert not (local_dir / "notifications.jsonl").exists()  # refused before any source was read


@pytest.mark.parametrize("body", [
    {"now": "0001-01-01T00:00:00Z"}, {"now": "0001-01-01T00:30:00+01:00"}, {"now": "9999-12-31T23:59:59-12:00"},
    {"now": "9999-12-31T23:59:59Z"}, {"date": "0001-01-01"}, {"date": "9999-12-31"},
])
def test_4_calendar_extremes_over_http_are_400_naming_the_parameter(make_app, local_dir, body):
    broken_day().write_local(local_dir)
    [name] = body
    assert_json_error(make_app().client.post("/", json=body), 400, f"{name}:", "supported range")
    assert not (local_dir / "notifications.jsonl").exists()


@pytest.mark.parametrize("opener", ["[", "{\"a\":"])
def test_4_a_deeply_nested_body_is_400(make_app, local_dir, opener):
    broken_day().write_local(local_dir)
    response = make_app().client.post("/", data=opener * (5000 if opener == "[" else 3000), content_type="application/json")
    assert_json_error(response, 400, "not JSON")


_OFFSETS = st.integers(min_value=-(24 * 60 - 1), max_value=24 * 60 - 1).map(lambda m: timezone(timedelta(minutes=m)))


@given(moment=st.datetimes(min_value=datetime.min, max_value=datetime.max), zone=_OFFSETS)
@settings(max_examples=400, deadline=None)
def test_4_property_any_instant_of_the_calendar_parses_into_range_or_is_a_value_error(moment, zone):
    text = moment.replace(tzinfo=zone).isoformat()
    try:
        parsed = parse_instant(text)
    except ValueError:
        return
    assert parsed.tzinfo is timezone.utc and inputs.EARLIEST <= parsed.date() <= inputs.LATEST


@given(day=st.dates(min_value=date.min, max_value=date.max))
@settings(max_examples=300, deadline=None)
def test_4_property_any_date_of_the_calendar_parses_into_range_or_is_a_value_error(day):
    try:
        parsed = parse_game_date(day.isoformat())
    except ValueError:
        assert not inputs.EARLIEST <= day <= inputs.LATEST
        return
    assert parsed == day and inputs.EARLIEST <= day <= inputs.LATEST


# --- 5. the CLI's last-resort error line is scrubbed ------------------------------------------------------


def test_5_the_cli_last_resort_line_holds_no_piece_of_a_secret(monkeypatch, capsys):
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", BAD_HEARTBEAT)
    monkeypatch.setenv("CANARY_SLACK_BOT_TOKEN", "xoxb-FAKE-4242424242-last-resort")

    def crash(*args: Any, **kwargs: Any) -> int:
        raise RuntimeError(f"boom near hc-ping.com /{UUID} with xoxb-FAKE-4242424242-last-resort")

    monkeypatch.setattr(main.entry.cli, "cli", crash)
    monkeypatch.setattr(sys, "argv", ["main.py", "run"])
    with pytest.raises(SystemExit) as exit_:
        main.main()
    err = capsys.readouterr().err
    assert exit_.value.code == 1 and err.startswith("error: internal: RuntimeError: boom near [redacted]")
    assert leaks(err) == [] and "xoxb-" not in err


# --- 7. the gcp backend talks to Google and Slack only ----------------------------------------------------


@pytest.mark.parametrize("name, value", [
    ("CANARY_SLACK_BASE_URL", "http://127.0.0.1:9/api/"), ("CANARY_BIGQUERY_ENDPOINT", "http://127.0.0.1:9"),
    ("CANARY_RUN_ENDPOINT", "http://127.0.0.1:9"), ("FIRESTORE_EMULATOR_HOST", "127.0.0.1:9"),
])
def test_7_a_test_endpoint_on_the_gcp_backend_is_a_configuration_error(monkeypatch, name, value):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    monkeypatch.setenv(name, value)
    result = run_cli("run", "--dry-run")
    assert result.code == 2 and result.stderr.startswith("error: environment: ") and name in result.stderr
    monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")
    assert Settings().backend == "gcp"  # explicitly allowed (tests only)


@pytest.mark.parametrize("value", ["https://[slack.com]/api/", "slack.com/api/", "https://", "http://exa mple/"])
def test_7_a_malformed_endpoint_setting_is_a_configuration_error_naming_it(monkeypatch, value):
    monkeypatch.setenv("CANARY_SLACK_BASE_URL", value)
    result = run_cli("run", "--dry-run")
    assert result.code == 2 and "slack_base_url" in result.stderr


def test_7_without_endpoint_settings_the_token_goes_to_slack_only(monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    settings_ = Settings()
    from run.configure import load_all

    canary = main.build_canary(*load_all(settings_), console=None)
    assert canary.notifier.base_url == "https://slack.com/api/"
