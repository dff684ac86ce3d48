"""orchestrator_iam: each orchestrator's Cloud Run service must let the push service account invoke it.

The seeds' 7-day silent outage: a redeploy dropped roles/run.invoker, and Pub/Sub pushes were rejected
at Cloud Run ingress without a log line. The policy is parsed as data, never grepped.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from core.commands import shell_command
from core.config import Pipeline
from core.model import CheckResult, Finding, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.iam import Policy

NAME = "orchestrator_iam"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


class Config(MonitorConfig):
    member: str
    """The push service account that must be able to invoke each service."""
    role: str = "roles/run.invoker"
    services: list[str] | None = None
    """The services to check; None checks every service of [pipeline]."""

    def check_against(self, pipeline: Pipeline) -> None:
        known = pipeline.services
        if self.enabled and self.services is not None and not self.services:
            raise ValueError("services: empty, so nothing would be checked (leave it out to check every service of [pipeline])")
        for index, service in enumerate(self.services or []):
            if service not in known:
                raise ValueError(f"services[{index}]: unknown service {service!r} (known: {', '.join(known)})")

    def services_of(self, pipeline: Pipeline) -> list[str]:
        return self.services if self.services is not None else pipeline.services


def binding_command(verb: str, pipeline: Pipeline, service: str, *, member: str, role: str) -> str:
    return shell_command(
        "gcloud", "run", "services", f"{verb}-iam-policy-binding", service,
        region=pipeline.region, member=member, role=role, project=pipeline.project,
    )


def _role_bindings(policy: Policy, role: str) -> list[dict[str, Any]]:
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise ValueError("the policy's 'bindings' is not a list")
    return [b for b in bindings if isinstance(b, dict) and b.get("role") == role]


def judge_policy(config: Config, pipeline: Pipeline, service: str, policy: Policy | None) -> list[Finding]:
    """The findings for one service's policy (None: the service does not exist)."""
    add_binding = binding_command("add", pipeline, service, member=config.member, role=config.role)

    def finding(problem: str, severity: Severity, summary: str, fix: str, **details: Any) -> Finding:
        return Finding(
            monitor=NAME,
            severity=severity,
            key={"service": service, "problem": problem},
            summary=summary,
            details={"project": pipeline.project, "region": pipeline.region, "service": service, **details},
            fix=fix,
        )

    if policy is None:
        return [
            finding(
                "not_found", Severity.CRITICAL,
                f"Cloud Run service {service} does not exist in {pipeline.project}/{pipeline.region}",
                f"Redeploy {service}, then restore its invoker binding: {add_binding}. "
                "If it was removed on purpose, drop it from [pipeline] in canary.toml.",
                evidence="getIamPolicy answered 404 NOT_FOUND",
            )
        ]
    bindings = _role_bindings(policy, config.role)
    holding = [b for b in bindings if config.member in (b.get("members") or [])]
    unconditional = [b for b in holding if not b.get("condition")]
    findings: list[Finding] = []
    if not unconditional and holding:
        condition = holding[0]["condition"]
        condition = condition if isinstance(condition, dict) else {"expression": str(condition)}
        findings.append(
            finding(
                "conditional_invoker", Severity.WARNING,
                f"{service}: the push service account's {config.role} binding has a condition",
                f"Add an unconditional binding: {add_binding}",
                member=config.member,
                condition_title=str(condition.get("title", "")),
                condition_expression=str(condition.get("expression", "")),
                evidence="the member's only invoker binding is conditional; pushes fail when it is false",
            )
        )
    elif not unconditional:
        findings.append(
            finding(
                "missing_invoker", Severity.CRITICAL,
                f"{service}: {config.member.split(':', 1)[-1]} cannot invoke it ({config.role} missing)",
                add_binding,
                member=config.member,
                role=config.role,
                bindings_total=len(policy.get("bindings") or []),
                invoker_members=sorted({m for b in bindings for m in (b.get("members") or [])}),
                evidence="Pub/Sub pushes to this service are rejected at Cloud Run ingress, with no log line",
            )
        )
    public = sorted({m for b in bindings for m in (b.get("members") or []) if m in PUBLIC_MEMBERS})
    if public:
        findings.append(
            finding(
                "public_invoker", Severity.WARNING,
                f"{service}: {', '.join(public)} may invoke it",
                " && ".join(binding_command("remove", pipeline, service, member=m, role=config.role) for m in public),
                public_members=public,
                role=config.role,
            )
        )
    return findings


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    pipeline = ctx.pipeline
    services = config.services_of(pipeline)

    def read(service: str) -> Policy | None:
        return sources.iam.get(project=pipeline.project, region=pipeline.region, service=service)

    # The policy reads are independent network calls: overlap them so the monitor costs one round trip.
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(services)))) as pool:
        policies = list(pool.map(read, services))
    findings = [f for service, policy in zip(services, policies) for f in judge_policy(config, pipeline, service, policy)]
    return CheckResult(findings=findings)


SPEC = MonitorSpec(
    name=NAME, config_model=Config, check=check, reads="iam",
    key_labels=frozenset({"service", "problem"}),
)
