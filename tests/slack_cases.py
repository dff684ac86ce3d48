"""Realistic alert messages for the Slack tests: every monitor's finding kinds, built by the monitors' own rules."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from alerts.links import LinkContext
from alerts.message import AlertMessage, build_message
from demo.pipeline import invoker_policy
from tests.production import CONFIG, PIPELINE, PUSH_MEMBER
from core.model import AlertState, Decision, Finding, Reason, Severity
from run.runner import degraded_finding, retry_command
from core.model import MonitorResult, Outcome
from collections import Counter

from demo.pipeline import push_subscription, service_json
from monitors import missing_predictions, orchestrator_iam, phase_stalls, push_delivery
from monitors.scheduler_jobs import with_job_fix
from run.runner import unread_target_findings
from core.model import Judged, UnreadTarget
from tests.scenario import NEW_YORK

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
TODAY = date(2026, 11, 21)
FIRST_SEEN = NOW - timedelta(hours=3, minutes=20)
LINKS = LinkContext(pipeline=PIPELINE, links=CONFIG.links)


def iam_findings() -> dict[str, Finding]:
    config = CONFIG.monitors["orchestrator_iam"]
    service = "phase4-to-phase5-orchestrator"
    conditional = {
        "bindings": [
            {"role": "roles/run.invoker", "members": [PUSH_MEMBER], "condition": {"title": "weekdays", "expression": "request.time < timestamp('2026-01-01T00:00:00Z')"}}
        ]
    }
    public = invoker_policy(PUSH_MEMBER, "allUsers")
    return {
        "missing_invoker": orchestrator_iam.judge_policy(config, PIPELINE, service, invoker_policy())[0],
        "conditional_invoker": orchestrator_iam.judge_policy(config, PIPELINE, service, conditional)[0],
        "public_invoker": orchestrator_iam.judge_policy(config, PIPELINE, service, public)[0],
        "not_found": orchestrator_iam.judge_policy(config, PIPELINE, service, None)[0],
    }


def push_findings() -> dict[str, Finding]:
    """Every push_delivery kind, from the demo's REST shapes of a service and its Eventarc subscription."""
    config = CONFIG.monitors["push_delivery"]
    service = "phase4-to-phase5-orchestrator"
    account = PUSH_MEMBER.split(":", 1)[1]
    subscription = push_subscription(PIPELINE.project, PIPELINE.region, service, account)
    sid = push_delivery.subscription_id(subscription)
    target = push_delivery.Target(name=service, service=service_json(PIPELINE.project, PIPELINE.region, service), policy=invoker_policy())

    def judge(subscriptions: list, **metrics: object) -> list[Finding]:
        return push_delivery.judge_target(config, PIPELINE, target, subscriptions, project_policy={},
                                          counts=metrics.get("counts", {}), ages=metrics.get("ages", {}))  # type: ignore[arg-type]

    unauthenticated = {**subscription, "pushConfig": {"pushEndpoint": subscription["pushConfig"]["pushEndpoint"]}}
    failing = judge([subscription], counts={sid: Counter({("remote_server_4xx", "403"): 23, ("ack", "success"): 1})},
                    ages={sid: 29129.0})
    by_problem = {f.key["problem"]: f for f in failing}
    return {
        "no_subscription": judge([])[0],
        "unauthenticated_push": judge([unauthenticated])[0],
        "push_account_cannot_invoke": by_problem["push_account_cannot_invoke"],
        "pushes_failing": by_problem["pushes_failing"],
        "backlog": by_problem["backlog"],
    }


def stall_finding(game_date: date = TODAY, *, processor: str = "ml_feature_store") -> Finding:
    transition = PIPELINE.transitions[2]
    complete = NOW - timedelta(hours=2)
    upstream = [
        phase_stalls.ProcessorRun(f"{processor}_{i}" if i else processor, complete - timedelta(minutes=4 - i), complete, 0)
        for i in range(5)
    ]
    finding = phase_stalls.judge_transition(transition, game_date, upstream, [], NOW, NEW_YORK)
    assert finding is not None
    return with_job_fix(finding, transition.backup_job, PIPELINE)  # as phase_stalls.judge adds it


def prediction_findings() -> dict[str, Finding]:
    config = CONFIG.monitors["missing_predictions"]
    start = NOW + timedelta(hours=1)
    rows = [  # the rows of missing_predictions.QUERY: a game without predictions has created_at NULL
        {"game_date": TODAY, "game_id": "0022600301", "game_start_utc": start, "created_at": None, "prediction_count": 0},
        {"game_date": TODAY, "game_id": "0022600302", "game_start_utc": start, "created_at": None, "prediction_count": 0},
    ]
    partial = [dict(rows[0]), {**rows[1], "created_at": NOW - timedelta(hours=1), "prediction_count": 84}]
    none = missing_predictions.judge_games(config, TODAY, rows, NOW, NEW_YORK).findings[0]
    some = missing_predictions.judge_games(config, TODAY, partial, NOW, NEW_YORK).findings[0]
    # As missing_predictions.check adds it: the phase whose starting service's logs the alert links.
    phase = {"phase": PIPELINE.predictions_phase}
    return {
        kind: with_job_fix(f.model_copy(update={"details": {**f.details, **phase}}), PIPELINE.rerun_job, PIPELINE)
        for kind, f in (("none", none), ("partial", some))
    }


def degraded() -> Finding:
    result = MonitorResult(
        name="phase_stalls", outcome=Outcome.ERROR, duration_ms=60000.0, error="timed out after 60s", source="bigquery"
    )
    return degraded_finding(result, retry=retry_command("phase_stalls", backend="gcp", pipeline=PIPELINE, links=CONFIG.links))


def all_findings() -> dict[str, Finding]:
    """Every finding kind, named `<monitor>-<problem>`."""
    found = {f"orchestrator_iam-{kind}": f for kind, f in iam_findings().items()}
    found["phase_stalls-stalled"] = stall_finding()
    found |= {f"missing_predictions-{kind}": f for kind, f in prediction_findings().items()}
    found |= {f"push_delivery-{kind}": f for kind, f in push_findings().items()}
    found["canary-error"] = degraded()
    [found["canary-error-one-service"]] = unread_target_findings(MonitorResult(
        name="orchestrator_iam", outcome=Outcome.FIRING, duration_ms=120.0, judged=Judged(
            label="service", targets=["phase3-to-phase4-orchestrator"],
            unread=[UnreadTarget(target="phase4-to-phase5-orchestrator", source="cloud_run",
                                 error="cloud_run: phase4-to-phase5-orchestrator: 403 Forbidden: Permission denied")],
        ),
    ))
    return found


def state_of(finding: Finding, *, first_seen: datetime = FIRST_SEEN) -> AlertState:
    """The record a delivered first notice of `finding` left at `first_seen`."""
    first = Decision(fingerprint=finding.fingerprint, reason=Reason.FIRST, finding=finding)
    state = first.next_record(now=first_seen, retention=timedelta(days=30), channel="C0ALERTS", thread_ts="1700000000.000200")
    return state.model_copy(update={"version": 1})


def message(finding: Finding, reason: Reason, *, now: datetime = NOW, note: str | None = None) -> AlertMessage:
    """The message of `finding` for `reason`, as if first notified at FIRST_SEEN (New York time, production links)."""
    previous = None if reason is Reason.FIRST else state_of(finding)
    decision = Decision(
        fingerprint=finding.fingerprint,
        reason=reason,
        finding=None if reason is Reason.RESOLVED else finding,
        previous=previous,
        note=note,
    )
    return build_message(decision, now=now, zone=NEW_YORK, links=LINKS)


def hostile_finding() -> Finding:
    """Data that tries to mention, link and break formatting."""
    return Finding(
        monitor="phase_stalls",
        severity=Severity.CRITICAL,
        key={"transition": "phase_2_raw->phase_3_analytics", "game_date": "2026-11-21", "problem": "stalled"},
        summary="<!channel> processor <@U123|boss> & <https://evil.example|click> stalled",
        details={
            "evidence": "processor named <!here> wrote 5 > 3 rows & then <!subteam^S1>",
            "upstream_processors": ["<!channel>", "a&b"],
        },
        fix="gcloud run jobs execute '<!everyone>' --region=us-west2 # ```",
    )
