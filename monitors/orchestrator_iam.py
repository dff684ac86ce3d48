"""orchestrator_iam: each orchestrator's Cloud Run service must let the push service account invoke it.

The seeds' 7-day silent outage: a redeploy dropped roles/run.invoker, and Pub/Sub pushes were rejected
at Cloud Run ingress without a log line. Policies are read as version 3 and parsed as data; access is
effective access (monitors/invoker_access.py): any role carrying run.routes.invoke, on the service or
the project, to the member or to allAuthenticatedUsers/allUsers. A service whose policy cannot be read
is that service's own "canary degraded"; the others are judged.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pydantic import field_validator

from core import monitor_names
from core.config import Pipeline
from core.model import CheckResult, Finding, Judged, Severity, UnreadTarget
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources, check_services
from monitors.changes import with_latest_change
from monitors.invoker_access import (
    Grant, binding_command, effective_access, grants_to, hop_details, hop_note, public_grants, restore_invoker_fix,
    service_account_member,
)
from sources.errors import SourceError
from sources.iam import Policy

NAME = monitor_names.ORCHESTRATOR_IAM


class Config(MonitorConfig):
    member: str
    """The push service account that must be able to invoke each service."""
    role: str = "roles/run.invoker"
    """The role the fix grants (any role carrying run.routes.invoke counts as access)."""
    services: list[str] | None = None
    """The services to check; None checks every service of [pipeline]."""

    @field_validator("member")
    @classmethod
    def _a_service_account(cls, value: str) -> str:
        return service_account_member(value)

    def check_against(self, pipeline: Pipeline) -> None:
        check_services(self.services, pipeline, enabled=self.enabled)

    def services_of(self, pipeline: Pipeline) -> list[str]:
        return self.services if self.services is not None else pipeline.services


def judge_policy(
    config: Config, pipeline: Pipeline, service: str, policy: Policy | None, *, project_policy: Policy | None = None,
) -> list[Finding]:
    """The findings for one service's policy (None: the service does not exist), given the project's policy."""
    add_binding = binding_command("add", pipeline, service, member=config.member, role=config.role)
    hop = hop_note(pipeline, service)

    def finding(problem: str, severity: Severity, summary: str, fix: str, **details: Any) -> Finding:
        return Finding(
            monitor=NAME,
            severity=severity,
            key={"service": service, "problem": problem},
            summary=summary + hop,
            details={"project": pipeline.project, "region": pipeline.region, "service": service,
                     **hop_details(pipeline, service), **details},
            fix=fix,
        )

    if policy is None:
        return [
            finding(
                "not_found", Severity.CRITICAL,
                f"Cloud Run service {service} does not exist in {pipeline.project}/{pipeline.region}",
                add_binding,
                evidence="getIamPolicy answered 404 NOT_FOUND",
                check_first=(
                    f"redeploy {service}, then run the fix to restore its invoker binding; if it was removed on "
                    "purpose, drop it from [pipeline] in canary.toml"
                ),
            )
        ]
    access = effective_access(config.member, service_policy=policy, project_policy=project_policy)
    findings: list[Finding] = []
    if not access.can_invoke and access.conditional:
        findings.append(
            finding(
                "conditional_invoker", Severity.WARNING,
                f"{service}: the push service account may invoke it only under an IAM condition",
                add_binding,
                member=config.member,
                access_from=[g.describe() for g in access.conditional],
                evidence="every binding that lets the member invoke is conditional; pushes fail when it is false",
                then="remove the conditional binding once the unconditional one is in place",
            )
        )
    elif not access.can_invoke:
        findings.append(
            finding(
                "missing_invoker", Severity.CRITICAL,
                f"{service}: {config.member.split(':', 1)[-1]} cannot invoke it (no role with run.routes.invoke)",
                restore_invoker_fix(pipeline, service, add_binding),
                member=config.member,
                role=config.role,
                checked="the service's and the project's IAM policies (version 3); groups, folders and the organization are not read",
                invoker_members=sorted({
                    f"{g.via} ({g.role})" for g in grants_to_anyone(policy)
                }),
                evidence="Pub/Sub pushes to this service are rejected at Cloud Run ingress, with no log line",
            )
        )
    public = public_grants(policy)
    if public:
        findings.append(
            finding(
                "public_invoker", Severity.WARNING,
                f"{service}: {', '.join(sorted({g.via for g in public}))} may invoke it",
                " && ".join(binding_command("remove", pipeline, service, member=g.via, role=g.role) for g in public),
                public_members=sorted({g.via for g in public}),
                access_from=[g.describe() for g in public],
            )
        )
    return findings


def grants_to_anyone(policy: Policy) -> list[Grant]:
    """Every member of the service's policy that holds a role carrying run.routes.invoke (for the evidence)."""
    members = {m for b in policy.get("bindings") or [] if isinstance(b, dict) for m in (b.get("members") or [])}
    return [g for m in sorted(members) for g in grants_to(m, policy, scope="service") if g.via == m]


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    pipeline = ctx.pipeline
    services = config.services_of(pipeline)

    def read(service: str) -> Policy | None | SourceError:
        try:
            return sources.iam.get(project=pipeline.project, region=pipeline.region, service=service)
        except SourceError as error:
            return error

    # The policy reads are independent network calls: overlap them so the monitor costs one round trip.
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(services)))) as pool:
        policies = dict(zip(services, pool.map(read, services)))
    failures = {s: p for s, p in policies.items() if isinstance(p, SourceError)}
    if len(failures) == len(services):
        raise next(iter(failures.values()))  # nothing could be judged: the monitor's source is down
    project_policy = ProjectPolicy(sources, pipeline.project)
    findings: list[Finding] = []
    judged: list[str] = []
    unread = [UnreadTarget(target=s, source=e.source, error=str(e)) for s, e in failures.items()]
    for service, policy in policies.items():
        if isinstance(policy, SourceError):
            continue
        own = policy is None or effective_access(config.member, service_policy=policy, project_policy=None).can_invoke
        project = None if own else project_policy.read()
        if isinstance(project, SourceError):
            # Without the project's policy a missing grant on the service proves nothing.
            unread.append(UnreadTarget(target=service, source=project.source, error=f"project policy: {project}"))
            continue
        findings += judge_policy(config, pipeline, service, policy, project_policy=project)
        judged.append(service)
    findings = with_latest_change(findings, sources, ctx)  # who changed it: the service's audit log
    return CheckResult(findings=findings, judged=Judged(label="service", targets=judged, unread=unread))


class ProjectPolicy:
    """The project's IAM policy, read at most once per check and only when a service's own policy is not enough."""

    def __init__(self, sources: Sources, project: str) -> None:
        self._sources, self._project = sources, project
        self._answer: Policy | SourceError | None = None

    def read(self) -> Policy | SourceError:
        if self._answer is None:
            try:
                self._answer = self._sources.iam.get_project(project=self._project)
            except SourceError as error:
                self._answer = error
        return self._answer


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="iam",
    no_history="reads live Cloud Run IAM policies (getIamPolicy); past policies are not kept, so there is no history to replay",
    key_labels=frozenset({"service", "problem"}),
    problems=("missing_invoker", "conditional_invoker", "public_invoker", "not_found"),
)
