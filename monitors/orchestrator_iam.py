"""orchestrator_iam: each orchestrator's Cloud Run service must let the push service account invoke it.

The seeds' 7-day silent outage: a redeploy dropped roles/run.invoker, and Pub/Sub pushes were rejected
at Cloud Run ingress without a log line. The policy is parsed as data, never grepped.
"""

from __future__ import annotations

import shlex
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from canary.model import CheckResult, Finding, Severity
from monitors.base import CheckContext, MonitorConfig, MonitorSpec, Sources
from sources.iam import Policy

NAME = "orchestrator_iam"
PUBLIC_MEMBERS = ("allUsers", "allAuthenticatedUsers")


class Config(MonitorConfig):
    project: str = "nba-props-platform"
    region: str = "us-west2"
    services: list[str] = [
        "phase3-to-phase4-orchestrator",
        "phase4-to-phase5-orchestrator",
        "phase5-to-phase6-orchestrator",
    ]
    member: str = "serviceAccount:756957797294-compute@developer.gserviceaccount.com"
    role: str = "roles/run.invoker"


def fix_command(config: Config, service: str) -> str:
    return (
        f"gcloud run services add-iam-policy-binding {shlex.quote(service)}"
        f" --region={shlex.quote(config.region)}"
        f" --member={shlex.quote(config.member)}"
        f" --role={shlex.quote(config.role)}"
        f" --project={shlex.quote(config.project)}"
    )


def _role_bindings(policy: Policy, role: str) -> list[dict[str, Any]]:
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise ValueError("the policy's 'bindings' is not a list")
    return [b for b in bindings if isinstance(b, dict) and b.get("role") == role]


def judge_policy(config: Config, service: str, policy: Policy | None) -> list[Finding]:
    """The findings for one service's policy (None: the service does not exist)."""
    where = {"project": config.project, "region": config.region, "service": service}
    if policy is None:
        return [
            Finding(
                monitor=NAME,
                severity=Severity.CRITICAL,
                key={"service": service, "problem": "not_found"},
                summary=f"Cloud Run service {service} does not exist in {config.project}/{config.region}",
                details={**where, "evidence": "getIamPolicy answered 404 NOT_FOUND"},
                fix=(
                    f"Redeploy {service}, then restore its invoker binding: {fix_command(config, service)}. "
                    f"If it was removed on purpose, drop it from [monitors.{NAME}].services in canary.toml."
                ),
            )
        ]
    bindings = _role_bindings(policy, config.role)
    holding = [b for b in bindings if config.member in (b.get("members") or [])]
    unconditional = [b for b in holding if not b.get("condition")]
    findings: list[Finding] = []
    if not unconditional:
        conditional = [b["condition"] for b in holding]
        if conditional:
            condition = conditional[0] if isinstance(conditional[0], dict) else {"expression": str(conditional[0])}
            findings.append(
                Finding(
                    monitor=NAME,
                    severity=Severity.WARNING,
                    key={"service": service, "problem": "conditional_invoker"},
                    summary=f"{service}: the push service account's {config.role} binding has a condition",
                    details={
                        **where,
                        "member": config.member,
                        "condition_title": str(condition.get("title", "")),
                        "condition_expression": str(condition.get("expression", "")),
                        "evidence": "the member's only invoker binding is conditional; pushes fail when it is false",
                    },
                    fix=f"Add an unconditional binding: {fix_command(config, service)}",
                )
            )
        else:
            findings.append(
                Finding(
                    monitor=NAME,
                    severity=Severity.CRITICAL,
                    key={"service": service, "problem": "missing_invoker"},
                    summary=f"{service}: {config.member.split(':', 1)[-1]} cannot invoke it ({config.role} missing)",
                    details={
                        **where,
                        "member": config.member,
                        "role": config.role,
                        "bindings_total": len(policy.get("bindings") or []),
                        "invoker_members": sorted({m for b in bindings for m in (b.get("members") or [])}),
                        "evidence": "Pub/Sub pushes to this orchestrator are rejected at Cloud Run ingress, with no log line",
                    },
                    fix=fix_command(config, service),
                )
            )
    public = sorted({m for b in bindings for m in (b.get("members") or []) if m in PUBLIC_MEMBERS})
    if public:
        findings.append(
            Finding(
                monitor=NAME,
                severity=Severity.WARNING,
                key={"service": service, "problem": "public_invoker"},
                summary=f"{service}: {', '.join(public)} may invoke it",
                details={**where, "public_members": public, "role": config.role},
                fix=" && ".join(
                    f"gcloud run services remove-iam-policy-binding {shlex.quote(service)} --region={shlex.quote(config.region)}"
                    f" --member={member} --role={shlex.quote(config.role)} --project={shlex.quote(config.project)}"
                    for member in public
                ),
            )
        )
    return findings


def check(config: Config, sources: Sources, ctx: CheckContext) -> CheckResult:
    def read(service: str) -> Policy | None:
        return sources.iam.get(project=config.project, region=config.region, service=service)

    # The policy reads are independent network calls: overlap them so the monitor costs one round trip.
    with ThreadPoolExecutor(max_workers=max(1, min(8, len(config.services)))) as pool:
        policies = list(pool.map(read, config.services))
    findings = [f for service, policy in zip(config.services, policies) for f in judge_policy(config, service, policy)]
    return CheckResult(findings=findings)


SPEC = MonitorSpec(name=NAME, config_model=Config, check=check, reads="iam")
