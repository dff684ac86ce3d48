"""Property tests: whatever a person or a scheduler sends, the answer is a result or a clear refusal.

CLI: any text for --monitors / --now / --date exits 0, 1 or 2, never with a traceback; 2 comes with one
line saying what is wrong. HTTP (functions-framework's own app around main.run_canary): any query
string, JSON body or raw body gets a 2xx or a 4xx JSON answer, never a 500.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Iterator

import functions_framework
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import PROJECT_ROOT, run_cli
from tests.test_scenarios_both_backends import pipeline

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

names = st.sampled_from(["orchestrator_iam", "phase_stalls", "missing_predictions", "nope", ""])
monitor_lists = st.one_of(st.text(max_size=40), st.lists(names, max_size=4).map(",".join))
instants = st.one_of(
    st.text(max_size=40),
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.just("2026-11-21T23:30:00Z"),
)
dates = st.one_of(st.text(max_size=20), st.dates().map(str), st.just("2026-02-30"))


@pytest.fixture
def demo_dir(local_dir: Path) -> Path:
    return pipeline().write_local(local_dir)


@FAST
@given(monitors=st.one_of(st.none(), monitor_lists), now=st.one_of(st.none(), instants), day=st.one_of(st.none(), dates),
       dry_run=st.booleans())
def test_cli_run_flags(demo_dir: Path, monitors: str | None, now: str | None, day: str | None, dry_run: bool) -> None:
    argv = ["run", "--json"]
    for flag, value in (("--monitors", monitors), ("--now", now), ("--date", day)):
        if value is not None:
            argv.append(f"{flag}={value}")  # `=` keeps a value starting with '-' a value
    if dry_run:
        argv.append("--dry-run")
    result = run_cli(*argv)
    assert result.code in (0, 1, 2), result
    assert "Traceback" not in result.stderr
    if result.code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert result.stdout == ""
    else:
        assert json.loads(result.stdout)["run_id"]


@FAST
@given(argv=st.lists(st.text(max_size=20), max_size=5))
def test_cli_any_arguments(demo_dir: Path, argv: list[str]) -> None:
    result = run_cli(*argv)
    assert result.code in (0, 1, 2), result
    assert "Traceback" not in result.stderr


# --- HTTP -------------------------------------------------------------------------------------


@pytest.fixture
def client(demo_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    # create_app loads main.py afresh as sys.modules["main"]; put the original back afterwards.
    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])
    app = functions_framework.create_app(target="run_canary", source=str(PROJECT_ROOT / "main.py"))
    yield app.test_client()


def assert_clear(response: Any) -> None:
    assert 200 <= response.status_code < 300 or 400 <= response.status_code < 500, (response.status_code, response.data)
    body = response.get_json(silent=True)
    if response.request.method != "HEAD":
        assert isinstance(body, dict), response.data[:200]
        if response.status_code >= 400:
            assert body.get("error"), body
    assert b"Traceback" not in response.data


param_names = st.one_of(st.sampled_from(["monitors", "dry_run", "date", "now", "action"]), st.text(max_size=10))
param_values = st.one_of(st.text(max_size=30), instants, dates, monitor_lists, st.sampled_from(["true", "0", "run", "test_alert"]))
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), st.text(max_size=20)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@FAST
@given(params=st.dictionaries(param_names, param_values, max_size=4), method=st.sampled_from(["GET", "POST"]))
def test_http_query_parameters(client: Any, params: dict[str, str], method: str) -> None:
    params.setdefault("now", "2026-11-21T23:30:00Z")
    params.setdefault("dry_run", "true")
    assert_clear(client.open("/", method=method, query_string=params))


@FAST
@given(body=st.one_of(st.dictionaries(param_names, st.one_of(param_values, json_values), max_size=4), json_values))
def test_http_json_bodies(client: Any, body: Any) -> None:
    if isinstance(body, dict):
        body.setdefault("dry_run", True)
        body.setdefault("now", "2026-11-21T23:30:00Z")
    assert_clear(client.post("/", data=json.dumps(body), content_type="application/json"))


@FAST
@given(raw=st.binary(max_size=200), content_type=st.sampled_from(["application/json", "text/plain", "application/x-www-form-urlencoded", ""]),
       path=st.sampled_from(["/", "/health", "/healthz", "/x", "/%ff"]), method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]))
def test_http_raw_requests(client: Any, raw: bytes, content_type: str, path: str, method: str) -> None:
    response = client.open(path, method=method, data=raw, content_type=content_type or None,
                           query_string={"dry_run": "true", "now": "2026-11-21T23:30:00Z"})
    assert_clear(response)


# --- issue 20, Why 5: any stored or source text stays data on every output (pure, so many cases are cheap) ---

from datetime import date as _date, datetime as _datetime, timedelta as _timedelta, timezone as _timezone  # noqa: E402

from alerts.digest import Digest, MonitorOutcome, OpenIncident, render_digest_text  # noqa: E402
from alerts.render_digest import render_digest_slack  # noqa: E402
from alerts.render_text import json_line  # noqa: E402
from core.model import Outcome, Severity, Silence  # noqa: E402
from entry.cli import cli_silences  # noqa: E402
from tests.scenario import NEW_YORK  # noqa: E402

_LINE_BREAKS = ("\n", "\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_NOW = _datetime(2026, 11, 21, 14, 30, tzinfo=_timezone.utc)
MANY = settings(max_examples=300, deadline=None)


def _no_controls(text: str) -> bool:
    return not any(ord(ch) < 32 and ch != "\n" or 0x7F <= ord(ch) <= 0x9F or 0x2028 <= ord(ch) <= 0x202E for ch in text)


@MANY
@given(value=st.text(max_size=60))
def test_any_text_is_one_json_line_that_reads_back_the_same(value: str) -> None:
    line = json_line({"title": value, "where": {value: value}})
    assert not any(ch in line for ch in _LINE_BREAKS) and json.loads(line) == {"title": value, "where": {value: value}}


@MANY
@given(summary=st.text(max_size=60), note=st.text(max_size=30), link=st.text(max_size=30))
def test_any_stored_text_keeps_the_digest_shape(summary: str, note: str, link: str) -> None:
    def digest(text: str, extra: str, url: str) -> Digest:
        incident = OpenIncident(Severity.CRITICAL, "orchestrator_iam", text, _NOW - _timedelta(hours=1), thread_url=url)
        return Digest(fingerprint="d", league_date=_date(2026, 11, 21), now=_NOW, zone=NEW_YORK, incidents=[incident],
                      monitors=[MonitorOutcome("orchestrator_iam", Outcome.FIRING, note=extra)])

    shown, benign = render_digest_text(digest(summary, note, "https://x/" + link)), render_digest_text(digest("s", "n", "https://x/l"))
    assert shown.count("\n") == benign.count("\n") and _no_controls(shown)
    slack = render_digest_slack(digest(summary, note, "https://x/" + link)).to_dict()
    assert len(slack["blocks"]) == len(render_digest_slack(digest("s", "n", "https://x/l")).to_dict()["blocks"])
    assert "<!" not in json.dumps(slack)


class _Store:
    location = "memory"

    def __init__(self, silence: Silence) -> None:
        self._silence = silence

    def silences(self, *, now: _datetime) -> list[Silence]:
        return [self._silence]


@MANY
@given(reason=st.text(min_size=1, max_size=60), author=st.text(max_size=20), value=st.text(min_size=1, max_size=20))
def test_any_stored_silence_is_listed_on_one_line(reason: str, author: str, value: str) -> None:
    import io

    silence = Silence(id="abc123", matchers={"service": value}, author=author, reason=reason, created_at=_NOW,
                      expires_at=_NOW + _timedelta(hours=1))
    out = io.StringIO()
    cli_silences(store=_Store(silence), now=_NOW, stdout=out, zone=NEW_YORK)  # type: ignore[arg-type]
    assert out.getvalue().count("\n") == 1 and _no_controls(out.getvalue())
