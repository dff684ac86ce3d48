"""Escalation end to end: the demo's outage, real runs (run.steps.execute), the state on SQLite and on the
Firestore emulator, PagerDuty's Events API v2 stand-in over HTTP (tests/servers/fake_pagerduty.py).

An unacknowledged critical pages once `after` its first notice (ten runs at once -> one trigger per cause),
its effects never page, its resolution resolves the page; a PagerDuty outage (5xx, 429, no connection) loses
no event: the next run sends it; without a routing key the escalation is recorded and shown, never skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any, Callable

import pytest
from pydantic import SecretStr

from alerts.firestore_state import FirestoreStateStore
from alerts.pagerduty import PagerDutyEvents
from alerts.sqlite_state import SqliteStateStore
from core.config import EscalationConfig
from core.model import RunReport
from run.steps import Canary, RunRequest, execute
from tests.production import SERVICES
from tests.servers.fake_pagerduty import ROUTING_KEY, FakePagerDuty, fake_pagerduty  # noqa: F401  (fixture)
from tests.servers.firestore_emulator import firestore_emulator, firestore_env  # noqa: F401  (fixtures)
from tests.test_scenarios_concurrent_runs import CONFIG, NOW, canary_with, posted, restore_invokers, run_at_once, write_outage

POLICY = EscalationConfig(after="30m", severities=["critical"], mention="<!subteam^S0123ABCD>")
ESCALATING = CONFIG.model_copy(update={"escalation": POLICY})
RUNS = 10


def escalating(canary: Canary, fake: FakePagerDuty | None) -> Canary:
    canary.config = ESCALATING
    canary.pager = PagerDutyEvents(routing_key=SecretStr(ROUTING_KEY), base_url=fake.endpoint) if fake else None
    return canary


def stores(backend: str, local_dir: Path, request: pytest.FixtureRequest) -> Callable[[], Any]:
    if backend == "local":
        return lambda: SqliteStateStore(path=local_dir / "state.sqlite3")
    emulator = request.getfixturevalue("firestore_env")
    return lambda: FirestoreStateStore(project=emulator.project, config=CONFIG.firestore)


def run(canary: Canary, minutes: int, run_id: str = "run") -> RunReport:
    return execute(canary, RunRequest(run_id=run_id, now=NOW + timedelta(minutes=minutes)))


def causes(report: RunReport) -> set[str]:
    """The firing critical findings nothing else explains: the ones that may page."""
    return {f.fingerprint for f in report.findings if f.severity.value == "critical" and f.caused_by is None}


def escalation_reports(report: RunReport) -> list[Any]:
    return [n for n in report.notifications if n.reason.value == "escalation"]


@pytest.mark.parametrize("backend", ["local", pytest.param("gcp", marks=pytest.mark.servers)])
def test_an_unacknowledged_critical_pages_once_across_ten_runs_and_resolves_there(
    backend: str, local_dir: Path, fake_pagerduty: FakePagerDuty, request: pytest.FixtureRequest,
) -> None:
    write_outage(local_dir)
    store = stores(backend, local_dir, request)
    first = run(escalating(canary_with(local_dir, store()), fake_pagerduty), 0, "first")
    paging = causes(first)
    effects = {f.fingerprint for f in first.findings} - paging
    assert len(paging) == len(SERVICES) and effects  # every service's missing invoker; push, stall, predictions explained
    assert fake_pagerduty.events == [] and escalation_reports(first) == []  # nobody waited 30m yet

    assert run(escalating(canary_with(local_dir, store()), fake_pagerduty), 29, "early").notifications == []
    assert fake_pagerduty.events == []

    reports = run_at_once([escalating(canary_with(local_dir, store()), fake_pagerduty) for _ in range(RUNS)],
                          now=NOW + timedelta(minutes=31))
    triggers = Counter(e["dedup_key"] for e in fake_pagerduty.events if e["event_action"] == "trigger")
    assert triggers == Counter(paging)  # one page per cause, whatever ten runs did; no effect paged
    delivered = [n for r in reports for n in escalation_reports(r) if n.delivered]
    assert sorted(n.fingerprint for n in delivered) == sorted(paging)
    assert all(n.to == ["<!subteam^S0123ABCD>", "pagerduty"] for n in delivered)
    assert all(n.error is None for r in reports for n in escalation_reports(r))
    event = next(e for e in fake_pagerduty.events)
    assert event["payload"]["severity"] == "critical" and event["payload"]["source"] == CONFIG.pipeline.project
    assert event["payload"]["component"] in SERVICES and event["payload"]["group"] == "orchestrator_iam"
    # The runbook's link (a thread link only when the thread is in Slack: the file's offsets are none).
    assert [link["text"] for link in event["links"]] == ["Runbook"]
    assert event["links"][0]["href"].startswith(CONFIG.links.runbook + "#orchestrator_iam-missing_invoker")
    # The mention went to each incident's thread (the local file: a line with reason "escalation").
    shown = [e for e in posted(local_dir) if e["reason"] == "escalation"]
    assert sorted(e["fingerprint"] for e in shown) == sorted(paging)
    assert all(e["thread"] is not None and e["text"].startswith("<!subteam^S0123ABCD> ESCALATED") for e in shown)

    # Hours later, still unacknowledged: no second page.
    assert escalation_reports(run(escalating(canary_with(local_dir, store()), fake_pagerduty), 300, "later")) == []
    assert len(fake_pagerduty.events) == len(paging)

    restore_invokers(local_dir)
    fixed = run(escalating(canary_with(local_dir, store()), fake_pagerduty), 310, "fixed")
    resolved = {n.fingerprint for n in escalation_reports(fixed) if n.delivered and n.event == "resolve"}
    assert resolved == paging
    assert Counter(e["event_action"] for e in fake_pagerduty.events) == Counter({"trigger": len(paging), "resolve": len(paging)})
    assert run(escalating(canary_with(local_dir, store()), fake_pagerduty), 320, "after").notifications == []


@pytest.mark.parametrize("outage", ["503", "429", "dropped", "refused"])
def test_a_pagerduty_outage_loses_no_event(outage: str, local_dir: Path, fake_pagerduty: FakePagerDuty) -> None:
    write_outage(local_dir)
    store = SqliteStateStore(path=local_dir / "state.sqlite3")
    run(escalating(canary_with(local_dir, store), fake_pagerduty), 0)
    if outage == "dropped":
        fake_pagerduty.drop = True
    elif outage == "refused":
        fake_pagerduty.stop()
    else:
        fake_pagerduty.fail_with = int(outage)
    down = run(escalating(canary_with(local_dir, store), fake_pagerduty), 31)
    failed = escalation_reports(down)
    assert len(failed) == len(SERVICES) and all(not n.delivered and "next run" in (n.error or "") for n in failed)
    assert down.delivery_failed  # the run says so (exit 1 / HTTP 503: Cloud Scheduler retries it)
    assert ROUTING_KEY not in down.model_dump_json()
    if outage == "refused":
        fake_pagerduty.start()
    fake_pagerduty.drop, fake_pagerduty.fail_with = False, None
    back = run(escalating(canary_with(local_dir, store), fake_pagerduty), 61)
    assert sorted(n.fingerprint for n in escalation_reports(back) if n.delivered) == sorted(n.fingerprint for n in failed)
    assert Counter(e["event_action"] for e in fake_pagerduty.events) == Counter({"trigger": len(SERVICES)})


def test_a_400_is_reported_as_a_configuration_error_with_pagerdutys_reason(local_dir: Path, fake_pagerduty: FakePagerDuty) -> None:
    write_outage(local_dir)
    canary = canary_with(local_dir, SqliteStateStore(path=local_dir / "state.sqlite3"))
    run(escalating(canary, fake_pagerduty), 0)
    wrong = "wrong-key-" + "9" * 12
    canary.pager = PagerDutyEvents(routing_key=SecretStr(wrong), base_url=fake_pagerduty.endpoint)
    report = run(canary, 31)
    errors = {n.error for n in escalation_reports(report)}
    assert len(errors) == 1
    (error,) = errors
    assert "HTTP 400" in error and "Length of 'routing_key' is incorrect" in error and "configuration error" in error
    assert wrong not in report.model_dump_json()


def test_without_a_routing_key_the_escalation_is_recorded_and_shown(local_dir: Path) -> None:
    write_outage(local_dir)
    canary = escalating(canary_with(local_dir, SqliteStateStore(path=local_dir / "state.sqlite3")), None)
    first = run(canary, 0)
    report = run(canary, 31)
    shown = escalation_reports(report)
    assert sorted(n.fingerprint for n in shown if n.delivered) == sorted(causes(first))
    assert all(n.to == ["<!subteam^S0123ABCD>"] for n in shown)
    lines = [e for e in posted(local_dir) if e["reason"] == "escalation"]
    assert len(lines) == len(shown) and all("CANARY_PAGERDUTY_ROUTING_KEY is not set" in e["text"] for e in lines)
    assert escalation_reports(run(canary, 61)) == []  # once
    line = json.loads((local_dir / "notifications.jsonl").read_text().splitlines()[-1])
    assert line["reason"] == "escalation" and line["event"] == "trigger"


# --- the gcp backend as production builds it: Firestore emulator, fake Slack, PagerDuty via the environment ---

from tests.test_scenarios_both_backends import EVENING, make_stack, pipeline  # noqa: E402,F401  (fixture)
from tests.servers.bqemulator import bqemulator  # noqa: E402,F401  (fixture)
from tests.servers.fake_cloud_run import fake_cloud_run  # noqa: E402,F401  (fixture)
from tests.servers.fake_logging import fake_logging  # noqa: E402,F401  (fixture)
from tests.servers.fake_scheduler import fake_scheduler  # noqa: E402,F401  (fixture)
from tests.servers.fake_monitoring import fake_monitoring, fake_monitoring_server  # noqa: E402,F401  (fixtures)
from tests.servers.fake_slack import FakeSlack, fake_slack  # noqa: E402,F401  (fixture)
from tests.servers.pubsub_emulator import pubsub_emulator, pubsub_env  # noqa: E402,F401  (fixtures)
from tests.servers.stacks import default_config  # noqa: E402


@pytest.mark.servers
def test_production_build_mentions_in_the_slack_thread_pages_with_its_link_and_resolves(
    make_stack: Callable[..., Any], fake_pagerduty: FakePagerDuty, fake_slack: FakeSlack,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CANARY_PAGERDUTY_ROUTING_KEY", ROUTING_KEY)
    monkeypatch.setenv("CANARY_PAGERDUTY_URL", fake_pagerduty.endpoint)
    stack = make_stack("gcp", default_config(escalation=POLICY))
    assert type(stack.canary.pager).__name__ == "PagerDutyEvents"
    broken = pipeline().policy("phase5-to-phase6-orchestrator", None)  # one critical: the service is gone
    stack.load(broken)
    first = stack.run(EVENING)
    (incident,) = [f for f in first.findings if f.severity.value == "critical"]
    (parent,) = [m for m in fake_slack.posted() if m.thread_ts is None]
    assert fake_pagerduty.events == []

    paged = stack.run(EVENING + timedelta(minutes=30))
    assert [(n.event, n.delivered, n.to) for n in escalation_reports(paged)] == [
        ("trigger", True, ["<!subteam^S0123ABCD>", "pagerduty"])]
    (mention,) = fake_slack.replies(parent.ts)
    assert mention.text.startswith("<!subteam^S0123ABCD> ESCALATED (critical, orchestrator_iam ")
    (event,) = fake_pagerduty.events
    assert event["dedup_key"] == incident.fingerprint and event["routing_key"] == ROUTING_KEY
    thread = f"{stack.config.links.slack_archive}/{parent.channel}/p{parent.ts.replace('.', '')}"
    assert [(link["text"], link["href"]) for link in event["links"]][0] == ("Slack thread", thread)

    stack.load(pipeline())  # the service is back
    fixed = stack.run(EVENING + timedelta(minutes=60))
    assert [(n.event, n.delivered) for n in escalation_reports(fixed)] == [("resolve", True)]
    assert fake_pagerduty.actions(incident.fingerprint) == ["trigger", "resolve"]
    out = capsys.readouterr()
    for shown in (out.out, out.err, first.model_dump_json(), paged.model_dump_json(), fixed.model_dump_json(),
                  *(m.text for m in fake_slack.posted())):
        assert ROUTING_KEY not in shown
