"""The escalation decision, table-driven like decide: (records, findings, acknowledged, silences, policy, now)
-> the PagerDuty events due, each with its reason."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from alerts.escalate import Action, Escalation, escalation_record, escalations, pagerduty_event
from alerts.pagerduty import MAX_SUMMARY
from core.config import EscalationConfig
from core.model import AlertState, AlertStatus, Finding, Severity, Silence

NOW = datetime(2026, 11, 22, 3, 0, tzinfo=timezone.utc)
POLICY = EscalationConfig(after="30m", severities=["critical"], mention="<!subteam^S0123ABCD>")
CRIT = Finding(monitor="orchestrator_iam", severity=Severity.CRITICAL,
               key={"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"}, summary="no invoker")
WARN = Finding(monitor="orchestrator_iam", severity=Severity.WARNING,
               key={"service": "phase3-to-phase4-orchestrator", "problem": "public_invoker"}, summary="public")
EFFECT = Finding(monitor="push_delivery", severity=Severity.CRITICAL,
                 key={"service": "phase4-to-phase5-orchestrator", "problem": "push_account_cannot_invoke"}, summary="push")


def record(finding: Finding, *, ago: timedelta, **fields: Any) -> AlertState:
    first = NOW - ago
    state = AlertState.opened(finding, now=first, channel="C1", thread_ts="111.1")
    return state.model_copy(update=fields)


def escalated(finding: Finding, *, since: datetime, event: str = "trigger", status: str = "firing") -> AlertState:
    from alerts.escalate import escalation_fingerprint

    return AlertState(
        fingerprint=escalation_fingerprint(finding.fingerprint), monitor="escalation", severity=finding.severity,
        summary=finding.summary, key={"incident": finding.fingerprint, "since": since.isoformat(), "event": event,
                                      "to": "<!subteam^S0123ABCD>,pagerduty", "monitor": finding.monitor},
        status=AlertStatus(status), first_seen=NOW - timedelta(minutes=5), last_seen=NOW, last_notified=NOW, version=1,
    )


def silence(finding: Finding) -> Silence:
    return Silence(id="s1", matchers={"monitor": finding.monitor, **finding.key}, author="me", reason="work",
                   created_at=NOW - timedelta(hours=1), expires_at=NOW + timedelta(hours=1))


CRIT_31 = record(CRIT, ago=timedelta(minutes=31))
CASES: list[tuple[str, dict[str, Any], list[tuple[str, Action]]]] = [
    ("a critical unacknowledged 31m after its first notice pages",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT]), [(CRIT.fingerprint, Action.TRIGGER)]),
    ("exactly `after` pages",
     dict(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=30))}, findings=[CRIT]),
     [(CRIT.fingerprint, Action.TRIGGER)]),
    ("29m: not yet",
     dict(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=29))}, findings=[CRIT]), []),
    ("no first notice yet: nobody was told, nothing pages",
     dict(records={}, findings=[CRIT]), []),
    ("a warning never pages",
     dict(records={WARN.fingerprint: record(WARN, ago=timedelta(hours=5))}, findings=[WARN]), []),
    ("acknowledged: no page",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT], acknowledged={CRIT.fingerprint: "ana"}), []),
    ("silenced: no page",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT], silences=[silence(CRIT)]), []),
    ("an effect explained by a firing cause never pages; its cause does",
     dict(records={CRIT.fingerprint: CRIT_31, EFFECT.fingerprint: record(EFFECT, ago=timedelta(hours=1))},
          findings=[CRIT, EFFECT], causes={EFFECT.fingerprint: CRIT.fingerprint}),
     [(CRIT.fingerprint, Action.TRIGGER)]),
    ("an effect living in its cause's thread never pages",
     dict(records={EFFECT.fingerprint: record(EFFECT, ago=timedelta(hours=1), caused_by=CRIT.fingerprint)},
          findings=[EFFECT]), []),
    ("an effect that outlived its cause counts from its own new parent (10m ago: not yet)",
     dict(records={EFFECT.fingerprint: record(EFFECT, ago=timedelta(hours=3), own_parent_at=NOW - timedelta(minutes=10))},
          findings=[EFFECT]), []),
    ("... and pages `after` its own new parent",
     dict(records={EFFECT.fingerprint: record(EFFECT, ago=timedelta(hours=3), own_parent_at=NOW - timedelta(minutes=30))},
          findings=[EFFECT]), [(EFFECT.fingerprint, Action.TRIGGER)]),
    ("escalated once already: never again for the same incident",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT],
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen)}), []),
    ("a new incident of the same fingerprint (fired again after resolving) pages again, and the old page resolves",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT],
          escalated={CRIT.fingerprint: escalated(CRIT, since=NOW - timedelta(days=1))}),
     [(CRIT.fingerprint, Action.RESOLVE), (CRIT.fingerprint, Action.TRIGGER)]),
    ("an escalated incident acknowledged since: acknowledge",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT], acknowledged={CRIT.fingerprint: "slack:U1"},
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen)}),
     [(CRIT.fingerprint, Action.ACKNOWLEDGE)]),
    ("acknowledged once in PagerDuty: not again",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT], acknowledged={CRIT.fingerprint: "slack:U1"},
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen, event="acknowledge")}), []),
    ("an escalated incident that resolved: resolve",
     dict(records={CRIT.fingerprint: CRIT_31.resolved(now=NOW, retention=timedelta(days=1))}, findings=[],
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen)}),
     [(CRIT.fingerprint, Action.RESOLVE)]),
    ("an acknowledged page that resolved: resolve",
     dict(records={}, findings=[],
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen, event="acknowledge")}),
     [(CRIT.fingerprint, Action.RESOLVE)]),
    ("a page resolved already: nothing",
     dict(records={}, findings=[],
          escalated={CRIT.fingerprint: escalated(CRIT, since=CRIT_31.first_seen, event="resolve", status="resolved")}), []),
    ("an operator's run (not scheduled) follows up but never triggers",
     dict(records={CRIT.fingerprint: CRIT_31}, findings=[CRIT], triggers=False), []),
    ("predictions due within the hour: at its first notice",
     dict(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=0))}, findings=[CRIT],
          predictions_due=NOW + timedelta(minutes=40),
          policy=POLICY.model_copy(update={"at_once_when_predictions_due_within": timedelta(hours=1)})),
     [(CRIT.fingerprint, Action.TRIGGER)]),
    ("predictions due in 2h: waits `after`",
     dict(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=0))}, findings=[CRIT],
          predictions_due=NOW + timedelta(hours=2),
          policy=POLICY.model_copy(update={"at_once_when_predictions_due_within": timedelta(hours=1)})), []),
    ("predictions already past due: waits `after`",
     dict(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=0))}, findings=[CRIT],
          predictions_due=NOW - timedelta(minutes=5),
          policy=POLICY.model_copy(update={"at_once_when_predictions_due_within": timedelta(hours=1)})), []),
    ("a policy that pages warnings pages one",
     dict(records={WARN.fingerprint: record(WARN, ago=timedelta(hours=1))}, findings=[WARN],
          policy=EscalationConfig(severities=["critical", "warning"])), [(WARN.fingerprint, Action.TRIGGER)]),
]


@pytest.mark.parametrize("case, inputs, expected", CASES, ids=[c[0] for c in CASES])
def test_escalations(case: str, inputs: dict[str, Any], expected: list[tuple[str, Action]]) -> None:
    arguments: dict[str, Any] = dict(escalated={}, acknowledged={}, silences=[], policy=POLICY, now=NOW)
    due = escalations(**{**arguments, **inputs})
    assert [(e.incident, e.action) for e in due] == expected
    assert all(e.reason for e in due)


def test_the_reason_says_how_long_and_the_policy() -> None:
    (due,) = escalations(records={CRIT.fingerprint: record(CRIT, ago=timedelta(minutes=45))}, escalated={},
                         findings=[CRIT], acknowledged={}, silences=[], policy=POLICY, now=NOW)
    assert due.reason == "unacknowledged 45m after its first notice (after = 30m)"


def test_the_trigger_event_as_the_events_api_wants_it() -> None:
    long = CRIT.model_copy(update={"summary": "s" * 3000, "details": {"evidence": 3}})
    state = record(long, ago=timedelta(hours=1))
    item = Escalation(long.fingerprint, Action.TRIGGER, "unacknowledged", state, None, long)
    event = pagerduty_event(item, source="nba-props-platform", links=[("Runbook", "https://x/README.md#runbook")])
    assert event["event_action"] == "trigger" and event["dedup_key"] == long.fingerprint
    payload = event["payload"]
    assert len(payload["summary"]) == MAX_SUMMARY
    assert (payload["source"], payload["severity"], payload["component"], payload["group"], payload["class"]) == (
        "nba-props-platform", "critical", "phase4-to-phase5-orchestrator", "orchestrator_iam", "missing_invoker")
    assert payload["custom_details"]["key"] == long.key and payload["custom_details"]["details"] == {"evidence": 3}
    assert event["links"] == [{"href": "https://x/README.md#runbook", "text": "Runbook"}]
    follow_up = pagerduty_event(Escalation(long.fingerprint, Action.RESOLVE, "resolved", None, state), source="x", links=[])
    assert follow_up == {"event_action": "resolve", "dedup_key": long.fingerprint}


def test_the_escalation_record_is_open_until_resolved() -> None:
    item = Escalation(CRIT.fingerprint, Action.TRIGGER, "why", CRIT_31, None, CRIT)
    opened = escalation_record(item, now=NOW, to=["pagerduty"], retention=timedelta(days=30))
    assert opened.firing and opened.key["since"] == CRIT_31.first_seen.isoformat() and opened.key["to"] == "pagerduty"
    closed = escalation_record(Escalation(CRIT.fingerprint, Action.RESOLVE, "resolved", None, opened), now=NOW,
                               to=[], retention=timedelta(days=30))
    assert not closed.firing and closed.key["event"] == "resolve" and closed.expire_at == NOW + timedelta(days=30)


def test_the_digest_says_when_and_to_whom_an_open_incident_escalated() -> None:
    from zoneinfo import ZoneInfo

    from alerts.digest import OpenIncident, incident_line

    zone = ZoneInfo("America/New_York")
    open_ = OpenIncident(severity=Severity.CRITICAL, monitor="orchestrator_iam", summary="no invoker",
                         since=NOW - timedelta(hours=1))
    assert "escalated" not in incident_line(open_, zone, NOW)
    escalated_ = OpenIncident(severity=Severity.CRITICAL, monitor="orchestrator_iam", summary="no invoker",
                              since=NOW - timedelta(hours=1), escalated_at=NOW - timedelta(minutes=30),
                              escalated_to="<!subteam^S0123ABCD>,pagerduty")
    assert incident_line(escalated_, zone, NOW).endswith(
        "; escalated Sat 2026-11-21 21:30 EST (02:30 UTC) to <!subteam^S0123ABCD>,pagerduty")
