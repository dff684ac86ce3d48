"""push_delivery: the chain from a Pub/Sub push subscription to the Cloud Run service it must start.

For each service of [pipeline] (the orchestrators and the phase-3 trigger): the push subscriptions whose
endpoint's host is one of the service's URLs (never parsed from Eventarc's subscription names), their OIDC
account's effective invoker access (monitors/invoker_access.py), and the symptom: Cloud Monitoring's
push_request_count by response class and code, and the oldest unacked message's age.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from core import monitor_names
from core.commands import shell_command
from core.config import Duration, Pipeline
from core.model import CheckResult, Finding, Judged, Severity, UnreadTarget
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources, check_services
from monitors.changes import with_latest_change
from monitors.invoker_access import (
    ALL_USERS, binding_command, effective_access, hop_details, hop_note, public_grants, restore_invoker_fix,
    service_account_email,
)
from sources.errors import SourceError
from sources.iam import Policy
from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS, Json

NAME = monitor_names.PUSH_DELIVERY
ACK = "ack"
"""The only successful response_class; deadline_exceeded, internal, invalid, remote_server_4xx,
remote_server_5xx, unreachable are failed pushes (https://cloud.google.com/pubsub/docs/monitoring#monitoring_push_delivery)."""


MIN_ALIGNMENT_PERIOD = timedelta(seconds=60)
"""Aggregation.alignmentPeriod: "The value must be at least 60 seconds"
(https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list#Aggregation)."""


class Config(MonitorConfig):
    services: list[str] | None = None
    """The services a push must reach; None: every service of [pipeline]."""
    window: Duration = timedelta(minutes=30)
    """Cloud Monitoring aggregates the pushes of this window as one alignment period."""
    min_failed: int = Field(default=5, ge=1)
    min_failed_ratio: float = Field(default=0.5, gt=0, le=1)
    max_backlog_age: Duration = timedelta(hours=1)
    push_account: str
    """The service account email a push subscription should authenticate as (the fix of unauthenticated_push)."""

    @field_validator("window")
    @classmethod
    def _an_alignment_period(cls, value: timedelta) -> timedelta:
        if value < MIN_ALIGNMENT_PERIOD:
            raise ValueError(
                "expected at least 60s: Cloud Monitoring refuses an alignment period under 60 seconds, and the window "
                "is one alignment period (https://cloud.google.com/monitoring/api/ref_v3/rest/v3/projects.timeSeries/list#Aggregation)"
            )
        return value

    @field_validator("push_account")
    @classmethod
    def _a_service_account(cls, value: str) -> str:
        return service_account_email(value)

    def check_against(self, pipeline: Pipeline) -> None:
        check_services(self.services, pipeline, enabled=self.enabled)


@dataclass(frozen=True)
class Target:
    """One service as read: its Service JSON (None: it does not exist) and its IAM policy."""

    name: str
    service: Json | None
    policy: Policy | None


def host_of(url: str) -> str:
    # Eventarc adds a query string (?__GCP_CloudEventsMode=...) and the path varies: compare hosts only.
    return (urlsplit(url).hostname or "").lower()


def service_hosts(service: Json) -> set[str]:
    """The hosts of a run v2 Service's `urls` (deterministic and legacy) and `uri`
    (https://cloud.google.com/run/docs/reference/rest/v2/projects.locations.services#Service)."""
    return {host_of(u) for u in [*(service.get("urls") or []), service.get("uri") or ""] if u} - {""}


def push_subscriptions(subscriptions: list[Json], hosts: set[str]) -> list[Json]:
    """The subscriptions whose pushConfig.pushEndpoint's host is one of `hosts`."""
    return [s for s in subscriptions if host_of(str((s.get("pushConfig") or {}).get("pushEndpoint") or "")) in hosts]


def subscription_id(subscription: Json) -> str:
    return str(subscription.get("name", "")).rsplit("/", 1)[-1]


def oidc_account(subscription: Json) -> str | None:
    """pushConfig.oidcToken.serviceAccountEmail (https://cloud.google.com/pubsub/docs/reference/rest/v1/projects.subscriptions#OidcToken)."""
    token = (subscription.get("pushConfig") or {}).get("oidcToken") or {}
    return token.get("serviceAccountEmail") or None


def _value(point: Json) -> float:
    # TypedValue JSON: int64Value is a string ("12"), doubleValue a number.
    value = point.get("value") or {}
    return float(value.get("int64Value", value.get("doubleValue", 0)) or 0)


def _in_window(point: Json, now: datetime, window: timedelta) -> bool:
    end = str((point.get("interval") or {}).get("endTime") or "")
    if not end:
        return False
    at = datetime.fromisoformat(end.replace("Z", "+00:00"))
    return now - window < at <= now


def push_counts(series: list[Json], *, now: datetime, window: timedelta) -> dict[str, Counter[tuple[str, str]]]:
    """subscription id -> {(response_class, response_code): pushes in the window}."""
    counts: dict[str, Counter[tuple[str, str]]] = {}
    for one in series:
        labels = (one.get("metric") or {}).get("labels") or {}
        sub = ((one.get("resource") or {}).get("labels") or {}).get("subscription_id", "")
        key = (str(labels.get("response_class", "")), str(labels.get("response_code", "")))
        total = sum(_value(p) for p in one.get("points") or [] if _in_window(p, now, window))
        if total:
            counts.setdefault(sub, Counter())[key] += int(total)
    return counts


def oldest_unacked_ages(series: list[Json], *, now: datetime, window: timedelta) -> dict[str, float]:
    """subscription id -> the largest oldest_unacked_message_age (seconds) in the window."""
    ages: dict[str, float] = {}
    for one in series:
        sub = ((one.get("resource") or {}).get("labels") or {}).get("subscription_id", "")
        values = [_value(p) for p in one.get("points") or [] if _in_window(p, now, window)]
        if values:
            ages[sub] = max(ages.get(sub, 0.0), *values)
    return ages


def _repoint_fix(
    config: Config, pipeline: Pipeline, service: str, subs: list[Json], *, project_policy: Policy | None, policy: Policy,
) -> str:
    """Point each subscription at the configured push account (and grant that account, if it cannot invoke either)."""
    commands = [shell_command(
        "gcloud", "pubsub", "subscriptions", "update", subscription_id(s),
        push_endpoint=(s.get("pushConfig") or {}).get("pushEndpoint"),
        push_auth_service_account=config.push_account, project=pipeline.project,
    ) for s in subs]
    configured = f"serviceAccount:{config.push_account}"
    if not effective_access(configured, service_policy=policy, project_policy=project_policy).can_invoke:
        commands.append(binding_command("add", pipeline, service, member=configured, role="roles/run.invoker"))
    return " && ".join(commands)


def judge_target(
    config: Config, pipeline: Pipeline, target: Target, subscriptions: list[Json], *, project_policy: Policy | None,
    counts: dict[str, Counter[tuple[str, str]]], ages: dict[str, float],
) -> list[Finding]:
    """The push chain's findings for one service."""
    if target.service is None:
        return []  # orchestrator_iam reports the missing service (not_found)
    service = target.name
    hosts = sorted(service_hosts(target.service))

    hop = hop_note(pipeline, service)

    def finding(problem: str, severity: Severity, summary: str, fix: str, subs: list[Json], **details: Any) -> Finding:
        return Finding(
            monitor=NAME, severity=severity, key={"service": service, "problem": problem}, summary=summary + hop, fix=fix,
            details={"project": pipeline.project, "service": service, **hop_details(pipeline, service),
                     "subscriptions": [subscription_id(s) for s in subs], **details},
        )

    mine = push_subscriptions(subscriptions, set(hosts))
    if not mine:
        listing = shell_command("gcloud", "pubsub", "subscriptions", "list", project=pipeline.project,
                                format="table(name,pushConfig.pushEndpoint,pushConfig.oidcToken.serviceAccountEmail)")
        return [finding(
            "no_subscription", Severity.CRITICAL, f"{service}: no push subscription delivers to it", listing,
            [], service_urls=hosts, evidence=f"no subscription of {pipeline.project} pushes to {', '.join(hosts) or 'its URLs'}",
            check_first=(
                f"nothing pushes to {service}, so the phase it starts never runs: see what exists (the fix), then "
                "redeploy its trigger (Eventarc) or recreate its push subscription with --push-endpoint on one of "
                "its URLs and --push-auth-service-account"
            ),
        )]
    policy = target.policy or {}
    # No authentication is required when the invoker IAM check is disabled (Service.invokerIamDisabled,
    # https://cloud.google.com/run/docs/securing/managing-access#invoker_check) or allUsers may invoke.
    open_to_all = bool(target.service.get("invokerIamDisabled")) or any(g.via == ALL_USERS for g in public_grants(policy))
    findings: list[Finding] = []
    unauthenticated = [s for s in mine if oidc_account(s) is None]
    if unauthenticated and not open_to_all:
        findings.append(finding(
            "unauthenticated_push", Severity.CRITICAL,
            f"{service}: {len(unauthenticated)} push subscription(s) send no OIDC token, and it requires authentication",
            " && ".join(shell_command(
                "gcloud", "pubsub", "subscriptions", "update", subscription_id(s),
                push_endpoint=(s.get("pushConfig") or {}).get("pushEndpoint"),
                push_auth_service_account=config.push_account, project=pipeline.project,
            ) for s in unauthenticated),
            unauthenticated,
            evidence="Cloud Run rejects a push without a token (403) when the service requires authentication",
        ))
    if not open_to_all:
        for account in sorted({a for s in mine if (a := oidc_account(s))}):
            member = f"serviceAccount:{account}"
            access = effective_access(member, service_policy=policy, project_policy=project_policy)
            if access.can_invoke:
                continue
            subs = [s for s in mine if oidc_account(s) == account]
            extra: dict[str, Any] = {}
            if account.lower() == config.push_account.lower():
                fix = restore_invoker_fix(
                    pipeline, service, binding_command("add", pipeline, service, member=member, role="roles/run.invoker"))
            else:
                # Granting the subscription's own account would let whoever created the subscription choose
                # who may invoke the service: point the subscription at the configured account instead.
                fix = _repoint_fix(config, pipeline, service, subs, project_policy=project_policy, policy=policy)
                extra["check_first"] = (
                    f"the subscription authenticates as {account}, not as the configured push account "
                    f"{config.push_account}: the fix points it at the configured account rather than granting "
                    f"{account} access; if {account} is the intended push account, set push_account to it in "
                    "canary.toml and grant it roles/run.invoker instead"
                )
                extra["configured_push_account"] = config.push_account
            findings.append(finding(
                "push_account_cannot_invoke", Severity.CRITICAL,
                f"{service}: the push account {account} of {', '.join(subscription_id(s) for s in subs)} cannot invoke it",
                fix, subs,
                push_account=account,
                conditional_access=[g.describe() for g in access.conditional],
                evidence="its pushes are rejected at Cloud Run ingress with 403, without a log line of the service",
                **extra,
            ))
    for sub in mine:
        sid = subscription_id(sub)
        by_code = counts.get(sid, Counter())
        total = sum(by_code.values())
        failed = sum(n for (response_class, _), n in by_code.items() if response_class != ACK)
        age = ages.get(sid)
        if total and failed >= config.min_failed and failed / total >= config.min_failed_ratio:
            findings.append(finding(
                "pushes_failing", Severity.CRITICAL,
                f"{service}: {failed} of {total} pushes from {sid} failed in the last {_minutes(config.window)}",
                request_log_command(pipeline, service, codes={code for (c, code), n in by_code.items() if c != ACK}),
                [sub],
                check_first=(
                    "the response codes: 403 = the push account lacks invoker access (fix that binding), 401 = a bad "
                    "token audience, 5xx = the service fails (its request log lines lead to its own logs); a 403 or "
                    "401 never reaches the service, so only its request log (the fix) shows them; messages are "
                    "retried until they expire, and once pushes succeed the backlog drains"
                ),
                pushes_by_class_and_code={f"{c}/{code}": n for (c, code), n in sorted(by_code.items())},
                failed=failed, total=total, oldest_unacked_message_age_s=age,
                evidence=f"Cloud Monitoring {PUSH_REQUESTS} over {_minutes(config.window)}",
            ))
        if age is not None and age > config.max_backlog_age.total_seconds():
            findings.append(finding(
                "backlog", Severity.WARNING,
                f"{service}: the oldest unacked message of {sid} is {age / 60:.0f} min old",
                shell_command("gcloud", "pubsub", "subscriptions", "describe", sid, project=pipeline.project),
                [sub], check_first=(
                    "a pushes_failing or push_account_cannot_invoke alert for this service, or its orchestrator_iam "
                    "missing_invoker: refused pushes are what stays unacked"
                ),
                oldest_unacked_message_age_s=age, max_backlog_age_s=config.max_backlog_age.total_seconds(),
            ))
    return findings


REQUEST_LOG = "run.googleapis.com/requests"
"""Cloud Run's request log: an entry per request to a service, written automatically
(https://cloud.google.com/run/docs/logging); a push refused by the invoker check is there (status 403)
and never reaches the container's own logs."""


def request_log_command(pipeline: Pipeline, service: str, *, codes: set[str]) -> str:
    """`gcloud logging read` of the service's request log: the refused pushes (403) when there were any,
    else every error response; a push refused at ingress leaves no line in the service's own logs."""
    status = "httpRequest.status=403" if "403" in codes else "httpRequest.status>=400"
    return shell_command(
        "gcloud", "logging", "read",
        f'resource.type="cloud_run_revision" AND resource.labels.service_name="{service}" '
        f'AND log_id("{REQUEST_LOG}") AND {status}',
        project=pipeline.project, freshness="1h", limit="20",
    )


def _minutes(window: timedelta) -> str:
    return f"{window.total_seconds() / 60:g} min"


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    pipeline = ctx.pipeline
    names = config.services if config.services is not None else pipeline.services

    def read(name: str) -> Target | SourceError:
        try:
            service = sources.push.service(project=pipeline.project, region=pipeline.region, service=name)
            policy = sources.iam.get(project=pipeline.project, region=pipeline.region, service=name) if service else None
            return Target(name=name, service=service, policy=policy)
        except SourceError as error:
            return error

    with ThreadPoolExecutor(max_workers=max(1, min(8, len(names)))) as pool:
        read_targets = dict(zip(names, pool.map(read, names)))
    targets = [t for t in read_targets.values() if isinstance(t, Target)]
    unread = [UnreadTarget(target=n, source=e.source, error=str(e)) for n, e in read_targets.items() if isinstance(e, SourceError)]
    if not targets:
        raise next(e for e in read_targets.values() if isinstance(e, SourceError))
    # Project-wide reads: one subscriptions list, one time-series call per metric for every subscription.
    subscriptions = sources.push.subscriptions(project=pipeline.project)
    pushing = sorted({
        subscription_id(s) for t in targets if t.service for s in push_subscriptions(subscriptions, service_hosts(t.service))
    })
    counts: dict[str, Counter[tuple[str, str]]] = {}
    ages: dict[str, float] = {}
    if pushing:
        window = dict(project=pipeline.project, subscription_ids=pushing, now=ctx.now, window=config.window)
        counts = push_counts(sources.push.time_series(metric_type=PUSH_REQUESTS, **window), now=ctx.now, window=config.window)
        ages = oldest_unacked_ages(sources.push.time_series(metric_type=OLDEST_UNACKED_AGE, **window), now=ctx.now, window=config.window)
    project_policy: Policy | None = None
    if any(t.service for t in targets):
        try:
            project_policy = sources.iam.get_project(project=pipeline.project)
        except SourceError as error:
            # Without the project's policy an account's access cannot be denied: those verdicts are unread.
            unread += [UnreadTarget(target=t.name, source=error.source, error=f"project policy: {error}") for t in targets]
            targets = []
    findings = [
        f for t in targets
        for f in judge_target(config, pipeline, t, subscriptions, project_policy=project_policy, counts=counts, ages=ages)
    ]
    findings = with_latest_change(findings, sources, ctx)  # who changed it: the service's audit log
    return CheckResult(findings=findings, judged=Judged(
        label="service", targets=[t.name for t in targets], unread=unread,
        without_data=without_data(targets, subscriptions, counts=counts, ages=ages),
    ))


def without_data(
    targets: list[Target], subscriptions: list[Json], *, counts: dict[str, Counter[tuple[str, str]]], ages: dict[str, float],
) -> list[dict[str, str]]:
    """The symptoms a service's subscriptions had no data for in the window: no traffic is not health, so
    an open pushes_failing (or backlog) incident is left alone rather than resolved."""
    held = []
    for target in targets:
        ids = [subscription_id(s) for s in push_subscriptions(subscriptions, service_hosts(target.service or {}))]
        if not any(counts.get(i) for i in ids):
            held.append({"service": target.name, "problem": "pushes_failing"})
        if not any(i in ages for i in ids):
            held.append({"service": target.name, "problem": "backlog"})
    return held


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="push",
    no_history=(
        "reads live subscriptions, services and IAM policies (not versioned) and Cloud Monitoring's push counts "
        "(kept for a limited time): a replay cannot see them as they were"
    ),
    key_labels=frozenset({"service", "problem"}),
    problems=("no_subscription", "unauthenticated_push", "push_account_cannot_invoke", "pushes_failing", "backlog"),
)
