"""Slack delivery with the real slack_sdk WebClient over HTTP against a local fake Slack Web API.

Each test asserts the exact requests the fake received: threads, chat.update, retries, refusals.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from alerts.decide import decide
from alerts.deliver import ANOTHER_RUN, deliver, plan
from alerts.notifier import DeliveryError, ThreadRef
from alerts.slack import MAX_RETRIES, MAX_RETRY_AFTER_SECONDS, SlackNotifier
from alerts.sqlite_state import SqliteStateStore
from alerts.state import records_for_decide
from core.config import AlertsConfig, SlackConfig
from core.model import Finding, NotificationReport, Reason
from tests.servers.fake_slack import TOKEN, FakeSlack, Fault, fake_slack  # noqa: F401  (fixture)
from tests.slack_cases import NOW, all_findings, hostile_finding, message, stall_finding

SLACK = SlackConfig(channel="#nba-pipeline-alerts")
ALERTS = AlertsConfig(group_after=5)
STALLS = "phase_stalls"
IAM = "orchestrator_iam"


def notifier_for(fake: FakeSlack, *, token: str | None = TOKEN, sleeps: list[float] | None = None) -> SlackNotifier:
    return SlackNotifier(
        token=SecretStr(token) if token is not None else None,
        base_url=fake.base_url,
        channel_for=SLACK.channel_for,
        sleep=(sleeps if sleeps is not None else []).append,
    )


@dataclass
class Pipeline:
    """The real decide -> deliver -> record loop on a SQLite store and the fake Slack, one run at a time."""

    fake: FakeSlack
    store: SqliteStateStore
    alerts: AlertsConfig = ALERTS
    sleeps: list[float] = field(default_factory=list)

    def run(self, findings: list[Finding], *, at: datetime, succeeded: set[str] = frozenset({STALLS, IAM}), owner: str = "run") -> list[NotificationReport]:  # type: ignore[assignment]
        previous = records_for_decide(self.store, fingerprints=[f.fingerprint for f in findings])
        decisions = decide(
            previous=previous, findings=findings, succeeded=set(succeeded), repeat_after=self.alerts.repeat_after, now=at
        )
        return deliver(
            plan(decisions.notify, now=at),
            store=self.store,
            notifier=notifier_for(self.fake, sleeps=self.sleeps),
            owner=f"{owner}-{at:%H%M}",
            now=at,
            alerts=self.alerts,
            channel_for=SLACK.channel_for,
        )


@pytest.fixture
def pipeline(fake_slack: FakeSlack, tmp_path: Path) -> Pipeline:
    return Pipeline(fake=fake_slack, store=SqliteStateStore(path=tmp_path / "state.sqlite3"))


def stalls(days: range) -> list[Finding]:
    return [stall_finding(date(2026, 11, day)) for day in days]


# --- one incident, one thread ------------------------------------------------------------------


def test_a_first_notice_is_one_parent_message_with_blocks_and_a_text_fallback(fake_slack: FakeSlack) -> None:
    alert = message(all_findings()["orchestrator_iam-missing_invoker"], Reason.FIRST)
    receipt = notifier_for(fake_slack).send(alert, thread=None)
    [request] = fake_slack.requests
    assert request.method == "chat.postMessage"
    assert request.authorization == f"Bearer {TOKEN}"
    assert request.content_type.startswith("application/json")
    assert request.body["channel"] == "#nba-pipeline-alerts"
    assert "thread_ts" not in request.body
    assert request.body["text"].startswith("FIRING [CRITICAL] orchestrator_iam: phase4-to-phase5-orchestrator")
    assert request.body["blocks"][0]["type"] == "header"
    assert "gcloud run services add-iam-policy-binding phase4-to-phase5-orchestrator" in json.dumps(request.body["blocks"])
    assert (receipt.channel, receipt.ts) == ("C0ALERTS", fake_slack.posted()[0].ts)


def test_an_incident_is_one_thread_repeat_and_resolved_reply_and_the_parent_is_edited(pipeline: Pipeline) -> None:
    fake, finding = pipeline.fake, stall_finding()
    assert [r.delivered for r in pipeline.run([finding], at=NOW)] == [True]
    assert pipeline.run([finding], at=NOW + timedelta(minutes=30)) == []  # nothing changed: nothing sent
    assert [r.reason for r in pipeline.run([finding], at=NOW + timedelta(hours=2))] == [Reason.REPEAT]
    assert [r.reason for r in pipeline.run([], at=NOW + timedelta(hours=3, minutes=10))] == [Reason.RESOLVED]

    [parent] = fake.parents()
    repeat, resolved = fake.replies(parent.ts)
    assert [r.method for r in fake.requests] == ["chat.postMessage"] * 3 + ["chat.update"]
    assert "still firing after 2 h" in repeat.text
    assert resolved.text.startswith("RESOLVED [CRITICAL] phase_stalls") and "3 h 10 min from its first notice" in resolved.text and "it lasted " in resolved.text
    update = fake.calls("chat.update")[0].body
    assert (update["channel"], update["ts"]) == ("C0ALERTS", parent.ts)
    assert parent.edits == 1 and "3 h 10 min from its first notice" in parent.text
    assert pipeline.store.load(fingerprints=[finding.fingerprint])[finding.fingerprint].status == "resolved"


def test_an_errored_monitor_neither_repeats_nor_resolves_over_slack(pipeline: Pipeline) -> None:
    finding = stall_finding()
    pipeline.run([finding], at=NOW)
    assert pipeline.run([], at=NOW + timedelta(hours=5), succeeded={IAM}) == []
    assert len(pipeline.fake.requests) == 1


# --- retries and refusals ----------------------------------------------------------------------


def first_alert() -> object:
    return message(stall_finding(), Reason.FIRST)


def test_a_429_is_retried_after_exactly_the_retry_after_it_asked_for(fake_slack: FakeSlack) -> None:
    sleeps: list[float] = []
    fake_slack.fail_next("chat.postMessage", Fault.rate_limited(retry_after=7))
    receipt = notifier_for(fake_slack, sleeps=sleeps).send(first_alert(), thread=None)  # type: ignore[arg-type]
    first, second = fake_slack.requests
    assert (first.answered, second.answered) == ("http 429", "ok")
    assert first.body == second.body, "the same message, sent again"
    assert sleeps == [7.0]
    assert receipt.ts == fake_slack.posted()[0].ts and len(fake_slack.posted()) == 1


def test_a_retry_after_longer_than_the_run_can_wait_fails_at_once(fake_slack: FakeSlack) -> None:
    sleeps: list[float] = []
    fake_slack.fail_next("chat.postMessage", Fault.rate_limited(retry_after=MAX_RETRY_AFTER_SECONDS + 30))
    with pytest.raises(DeliveryError, match="asked to wait 60 s"):
        notifier_for(fake_slack, sleeps=sleeps).send(first_alert(), thread=None)  # type: ignore[arg-type]
    assert len(fake_slack.requests) == 1 and sleeps == []


@pytest.mark.parametrize("fault", [Fault.server_error(500), Fault.server_error(502), Fault.server_error(503), Fault.dropped()], ids=["500", "502", "503", "dropped"])
def test_server_errors_and_dropped_connections_are_retried_with_backoff(fake_slack: FakeSlack, fault: Fault) -> None:
    sleeps: list[float] = []
    fake_slack.fail_next("chat.postMessage", fault, fault)
    notifier_for(fake_slack, sleeps=sleeps).send(first_alert(), thread=None)  # type: ignore[arg-type]
    assert [r.answered for r in fake_slack.requests][-1] == "ok"
    assert len(fake_slack.requests) == 3 and len(fake_slack.posted()) == 1
    assert len(sleeps) == 2 and 0 < sleeps[0] and all(s < 10 for s in sleeps)


def test_retries_are_bounded_and_then_the_delivery_fails(fake_slack: FakeSlack) -> None:
    fake_slack.fail_next("chat.postMessage", *[Fault.server_error(500)] * (MAX_RETRIES + 5))
    with pytest.raises(DeliveryError, match=f"HTTP 500 after {MAX_RETRIES} retries"):
        notifier_for(fake_slack).send(first_alert(), thread=None)  # type: ignore[arg-type]
    assert len(fake_slack.requests) == MAX_RETRIES + 1


@pytest.mark.parametrize(
    "code,explains",
    [("invalid_auth", "CANARY_SLACK_BOT_TOKEN was refused"), ("channel_not_found", "fix [slack] in canary.toml"), ("not_in_channel", "/invite")],
)
def test_a_permanent_error_fails_at_once_with_a_clear_message(fake_slack: FakeSlack, code: str, explains: str) -> None:
    fake_slack.fail_next("chat.postMessage", Fault.slack_error(code))
    with pytest.raises(DeliveryError) as raised:
        notifier_for(fake_slack).send(first_alert(), thread=None)  # type: ignore[arg-type]
    assert len(fake_slack.requests) == 1, "no retry"
    assert f"refused: {code}" in str(raised.value) and explains in str(raised.value)
    assert "#nba-pipeline-alerts" in str(raised.value)


def test_an_unknown_channel_is_refused_by_the_fake_for_real(fake_slack: FakeSlack) -> None:
    notifier = SlackNotifier(token=SecretStr(TOKEN), base_url=fake_slack.base_url, channel_for=lambda _: "#nowhere")
    with pytest.raises(DeliveryError, match="channel_not_found"):
        notifier.send(first_alert(), thread=None)  # type: ignore[arg-type]


def test_a_missing_token_fails_before_any_request(fake_slack: FakeSlack) -> None:
    for token in (None, ""):
        with pytest.raises(DeliveryError, match="CANARY_SLACK_BOT_TOKEN is not set"):
            notifier_for(fake_slack, token=token).send(first_alert(), thread=None)  # type: ignore[arg-type]
    assert fake_slack.requests == []


def test_a_failed_delivery_is_released_reported_and_sent_by_the_next_run(pipeline: Pipeline) -> None:
    finding = stall_finding()
    pipeline.fake.fail_next("chat.postMessage", Fault.slack_error("channel_not_found"))
    [failed] = pipeline.run([finding], at=NOW)
    assert not failed.delivered and "channel_not_found" in (failed.error or "")
    assert finding.fingerprint not in pipeline.store.load(fingerprints=[finding.fingerprint])
    [retried] = pipeline.run([finding], at=NOW + timedelta(minutes=30))
    assert retried.delivered and retried.reason is Reason.FIRST
    assert len(pipeline.fake.parents()) == 1


# --- secrets and escaping ----------------------------------------------------------------------


def test_the_token_never_appears_in_an_error_a_report_or_a_log_line(
    pipeline: Pipeline, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fake, errors = pipeline.fake, []
    for fault in (Fault.slack_error("invalid_auth"), Fault.server_error(500), Fault.rate_limited(999), Fault.dropped()):
        fake.fail_next("chat.postMessage", *[fault] * (MAX_RETRIES + 1))
        with pytest.raises(DeliveryError) as raised:
            notifier_for(fake).send(first_alert(), thread=None)  # type: ignore[arg-type]
        errors.append(str(raised.value))
    fake.stop()  # nothing listens any more: connection refused
    reports = pipeline.run([stall_finding()], at=NOW)
    errors.append(reports[0].error or "")
    wrong = SlackNotifier(
        token=SecretStr("xoxb-wrong-SECRET-1234"), base_url="http://127.0.0.1:9/api/", channel_for=SLACK.channel_for, sleep=lambda _: None
    )
    with pytest.raises(DeliveryError) as raised:
        wrong.send(first_alert(), thread=None)  # type: ignore[arg-type]
    errors.append(str(raised.value))
    assert all(r.authorization == f"Bearer {TOKEN}" for r in fake.requests), "the token was really used"
    everything = "\n".join(errors) + caplog.text + json.dumps([r.model_dump(mode="json") for r in reports]) + repr(wrong)
    assert "Slack chat.postMessage" in everything and "cannot reach" in everything
    assert TOKEN not in everything and "SECRET" not in everything and "xoxb" not in everything


def test_a_processor_named_channel_mention_reaches_slack_escaped(fake_slack: FakeSlack) -> None:
    notifier_for(fake_slack).send(message(hostile_finding(), Reason.FIRST), thread=None)
    body = json.dumps(fake_slack.requests[0].body)
    assert "<!channel>" not in body and "<!here>" not in body and "<@U123" not in body
    assert "&lt;!channel&gt;" in body


# --- grouping ----------------------------------------------------------------------------------


def test_many_new_alerts_in_one_run_are_one_summary_parent_with_details_in_its_thread(pipeline: Pipeline) -> None:
    findings = stalls(range(10, 22)) + [all_findings()["orchestrator_iam-missing_invoker"]]
    reports = pipeline.run(findings, at=NOW)
    assert [r.fingerprint for r in reports] == [f.fingerprint for f in findings] and all(r.delivered for r in reports)
    [summary] = pipeline.fake.parents()
    assert summary.text.startswith("FIRING [CRITICAL] 13 alerts newly firing (13 critical)")
    details = pipeline.fake.replies(summary.ts)
    assert len(details) == 13 and details[0].text.startswith("FIRING [CRITICAL] orchestrator_iam")
    states = pipeline.store.load(fingerprints=[f.fingerprint for f in findings])
    assert {(s.channel, s.thread_ts) for s in states.values()} == {("C0ALERTS", summary.ts)}


def test_a_group_lives_in_its_summary_thread_until_every_member_resolved(pipeline: Pipeline) -> None:
    findings = stalls(range(10, 17))  # 7 > group_after 5
    pipeline.run(findings, at=NOW)
    [summary] = pipeline.fake.parents()
    requests = len(pipeline.fake.requests)

    pipeline.run(findings, at=NOW + timedelta(hours=2))  # 7 repeats: one summary reply
    [repeat] = pipeline.fake.replies(summary.ts)[7:]
    assert repeat.text.startswith("STILL FIRING [CRITICAL] 7 alerts still firing")

    pipeline.run(findings[3:], at=NOW + timedelta(hours=3))  # 3 resolve: 3 replies; the summary keeps 4 members' buttons
    resolved = pipeline.fake.replies(summary.ts)[8:]
    assert [m.text.split(" ", 1)[0] for m in resolved] == ["RESOLVED"] * 3
    [regroup] = pipeline.fake.calls("chat.update")
    assert regroup.body["ts"] == summary.ts and regroup.body["text"].startswith("FIRING [CRITICAL] 7 alerts newly firing")
    buttoned = {b["elements"][0]["value"] for b in regroup.body["blocks"] if b["type"] == "actions"}
    assert buttoned == {f.fingerprint for f in findings[3:]}  # the resolved three have none left to press

    pipeline.run([], at=NOW + timedelta(hours=4))  # the other 4 resolve: 4 replies, then the parent edit
    assert len(pipeline.fake.replies(summary.ts)) == 7 + 1 + 3 + 4
    update = pipeline.fake.calls("chat.update")[-1]
    # The edit lists the whole group, also the three that resolved an hour earlier.
    assert update.body["ts"] == summary.ts and update.body["text"].startswith("RESOLVED [CRITICAL] 7 alerts resolved")
    assert len(pipeline.fake.parents()) == 1
    assert len(pipeline.fake.requests) == requests + 1 + 3 + 1 + 4 + 1


def test_a_group_whose_last_member_resolves_alone_still_edits_the_summary_as_the_whole_group(pipeline: Pipeline) -> None:
    findings = stalls(range(10, 17))
    pipeline.run(findings, at=NOW)
    [summary] = pipeline.fake.parents()
    pipeline.run(findings[:1], at=NOW + timedelta(minutes=30))  # six resolve, one still firing: its buttons stay
    [regroup] = pipeline.fake.calls("chat.update")
    assert [b["elements"][0]["value"] for b in regroup.body["blocks"] if b["type"] == "actions"] == [findings[0].fingerprint]
    pipeline.run([], at=NOW + timedelta(hours=1))  # the last one resolves alone
    update = pipeline.fake.calls("chat.update")[-1]
    assert update.body["ts"] == summary.ts and update.body["text"].startswith("RESOLVED [CRITICAL] 7 alerts resolved")


def test_a_member_claimed_by_another_run_is_left_out_of_the_summary(pipeline: Pipeline) -> None:
    findings = stalls(range(10, 17))
    taken = findings[2].fingerprint
    assert pipeline.store.claim(fingerprint=taken, expected_version=0, owner="other", now=NOW, lease=timedelta(minutes=5))
    reports = {r.fingerprint: r for r in pipeline.run(findings, at=NOW)}
    assert reports[taken].skipped == ANOTHER_RUN and not reports[taken].delivered
    [summary] = pipeline.fake.parents()
    assert summary.text.startswith("FIRING [CRITICAL] 6 alerts newly firing")
    assert "game_date=2026-11-12" not in summary.text and "game_date=2026-11-13" in summary.text
    assert len(pipeline.fake.replies(summary.ts)) == 6


def test_a_summary_that_fails_releases_every_claim_and_the_next_run_sends_it(pipeline: Pipeline) -> None:
    findings = stalls(range(10, 17))
    pipeline.fake.fail_next("chat.postMessage", *[Fault.server_error(503)] * (MAX_RETRIES + 1))
    reports = pipeline.run(findings, at=NOW)
    assert all(not r.delivered and "HTTP 503" in (r.error or "") for r in reports)
    assert pipeline.fake.posted() == []
    again = pipeline.run(findings, at=NOW + timedelta(minutes=30))
    assert all(r.delivered and r.reason is Reason.FIRST for r in again)
    assert len(pipeline.fake.parents()) == 1


def test_at_the_limit_each_alert_is_its_own_thread(pipeline: Pipeline) -> None:
    pipeline.run(stalls(range(10, 15)), at=NOW)  # exactly group_after: not grouped
    assert len(pipeline.fake.parents()) == 5 and all(not pipeline.fake.replies(m.ts) for m in pipeline.fake.parents())


def test_grouped_threads_are_edited_through_the_slack_notifier_directly(fake_slack: FakeSlack) -> None:
    notifier = notifier_for(fake_slack)
    receipt = notifier.send(first_alert(), thread=None)  # type: ignore[arg-type]
    notifier.mark_resolved(message(stall_finding(), Reason.RESOLVED), thread=ThreadRef(channel="C0ALERTS", ts=receipt.ts or ""))
    assert fake_slack.posted()[0].edits == 1 and fake_slack.posted()[0].text.startswith("RESOLVED")
