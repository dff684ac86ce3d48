"""The digest's open incidents (alerts/digest.open_incidents): after this run's decisions, one entry per incident with its
effects counted under it, each with its current summary, and "no data since" for one its check has no data for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from alerts.digest import OpenEffect, incident_line, open_incidents
from core.model import AlertState, Decision, Finding, Reason, Severity

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
NEW_YORK = ZoneInfo("America/New_York")


def finding(monitor: str, name: str, summary: str | None = None, severity: Severity = Severity.CRITICAL) -> Finding:
    return Finding(monitor=monitor, severity=severity, key={"name": name}, summary=summary or f"{name} now")


IAM, STALL, PUSH, OTHER = (finding("orchestrator_iam", "iam"), finding("phase_stalls", "stall"),
                           finding("push_delivery", "push"), finding("missing_predictions", "other", severity=Severity.WARNING))


def record(f: Finding, *, caused_by: Finding | None = None, hours_ago: int = 10, last_seen_ago: int = 1) -> AlertState:
    at = NOW - timedelta(hours=hours_ago)
    return AlertState.opened(f.model_copy(update={"summary": f"{f.key['name']} at first notice"}), now=at,
                             channel="C", thread_ts="1.0", caused_by=caused_by.fingerprint if caused_by else None).model_copy(
        update={"last_seen": NOW - timedelta(hours=last_seen_ago)})


def shown(incidents):  # type: ignore[no-untyped-def]
    return [(i.monitor, i.summary, i.no_data_since is not None, [(e.monitor, e.no_data_since is not None) for e in i.effects])
            for i in incidents]


CASES = {
    # Six records of one cause: one entry, its effects counted under it, this run's summaries.
    "one-cause-one-entry": dict(
        firing=[record(IAM), record(STALL, caused_by=IAM), record(PUSH, caused_by=IAM)],
        findings=[IAM, STALL, PUSH], causes={STALL.fingerprint: IAM.fingerprint, PUSH.fingerprint: IAM.fingerprint},
        decisions=[],
        expected=[("orchestrator_iam", "iam now", False, [("phase_stalls", False), ("push_delivery", False)])],
    ),
    # An effect open only because its check has no data (no push traffic): counted under its cause, "no data since".
    "effect-without-data": dict(
        firing=[record(IAM), record(PUSH, caused_by=IAM)], findings=[IAM], causes={}, decisions=[],
        expected=[("orchestrator_iam", "iam now", False, [("push_delivery", True)])],
    ),
    # An incident not seen in this run and not resolved: its last notice's summary, "no data since".
    "incident-without-data": dict(
        firing=[record(OTHER)], findings=[], causes={}, decisions=[],
        expected=[("missing_predictions", "other at first notice", True, [])],
    ),
    # A dry run: this run's decisions applied (a new cause and its new effect open, a resolved one gone).
    "dry-run-decisions": dict(
        firing=[record(OTHER)], findings=[IAM, STALL], causes={STALL.fingerprint: IAM.fingerprint},
        decisions=[Decision(fingerprint=IAM.fingerprint, reason=Reason.FIRST, finding=IAM),
                   Decision(fingerprint=STALL.fingerprint, reason=Reason.FIRST, finding=STALL),
                   Decision(fingerprint=OTHER.fingerprint, reason=Reason.RESOLVED, previous=record(OTHER))],
        expected=[("orchestrator_iam", "iam now", False, [("phase_stalls", False)])],
    ),
    # A cause resolved, its effect still firing in its thread (the grace): its own entry.
    "effect-of-a-resolved-cause": dict(
        firing=[record(STALL, caused_by=IAM)], findings=[STALL], causes={}, decisions=[],
        expected=[("phase_stalls", "stall now", False, [])],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_open_incidents_after_this_runs_decisions(name: str) -> None:
    case = CASES[name]
    found = open_incidents(
        {s.fingerprint: s for s in case["firing"]}, findings=case["findings"], causes=case["causes"],
        decisions=case["decisions"], now=NOW,
    )
    assert shown(found) == case["expected"]


def test_findings_not_known_says_nothing_about_data() -> None:
    [incident] = open_incidents({IAM.fingerprint: record(IAM)}, findings=None, causes={}, now=NOW)
    assert incident.no_data_since is None and incident.summary == "iam at first notice"


def test_the_line_counts_effects_and_says_no_data_since_in_league_time() -> None:
    """"No data since": the record's mark (the first run that kept it open for lack of data), or this run when it is
    the first (its mark is written now), never the last notice."""
    marked = record(IAM, last_seen_ago=4).model_copy(update={"no_data_since": NOW - timedelta(hours=2)})
    [incident] = open_incidents(
        {s.fingerprint: s for s in (marked, record(PUSH, caused_by=IAM, last_seen_ago=3))}, findings=[], causes={}, now=NOW,
    )
    line = incident_line(incident, NEW_YORK, NOW)
    assert "10 h ago; no data since 16:30 EST)" in line
    assert line.endswith("; 1 effect(s) under it: push_delivery: push at first notice (no data since 18:30 EST)")
    assert incident.effects == (OpenEffect("push_delivery", "push at first notice", NOW),)
