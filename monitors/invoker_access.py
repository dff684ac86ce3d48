"""Who may invoke a Cloud Run service: effective access from the service's and the project's IAM policies.

Pure: it reads two getIamPolicy answers (version 3) and says which unconditional bindings let a member
call `run.routes.invoke`, and which would only under a condition. Group membership cannot be read, and
folder and organization policies are not read: access granted only there is reported as missing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from core.commands import run_job_command, shell_command
from core.config import Pipeline
from sources.iam import Policy

# The roles that carry run.routes.invoke, in one place.
# - run.invoker, run.servicesInvoker, run.developer, run.admin ("run.*"): Cloud Run's IAM roles page,
#   https://cloud.google.com/run/docs/reference/iam/roles (run.servicesInvoker holds only
#   run.routes.invoke; run.developer's list holds it; run.viewer does not: run.routes.get/list only).
# - owner, editor (basic roles, granted on the project): "By default, only project owners and editors
#   can create, update, delete, or invoke Cloud Run resources",
#   https://cloud.google.com/run/docs/securing/managing-access
INVOKER_ROLES = frozenset({
    "roles/run.invoker", "roles/run.servicesInvoker", "roles/run.developer", "roles/run.admin",
    "roles/owner", "roles/editor",
})
ALL_USERS = "allUsers"
ALL_AUTHENTICATED_USERS = "allAuthenticatedUsers"
"""Includes every service account: https://cloud.google.com/iam/docs/principals-overview#all-authenticated-users"""
PUBLIC_MEMBERS = (ALL_USERS, ALL_AUTHENTICATED_USERS)
WITHCOND = "_withcond_"
"""A version-1 answer renames a conditional binding's role ROLE_withcond_HASH and hides the condition:
https://cloud.google.com/iam/docs/troubleshooting-withcond"""


@dataclass(frozen=True)
class Grant:
    """One binding that lets the member invoke (or would, under its condition)."""

    scope: str
    """"service" or "project": a service's getIamPolicy does not include inherited (project) policies."""
    role: str
    via: str
    """The policy member that matched: the member itself, allAuthenticatedUsers or allUsers."""
    condition: str | None = None
    """The condition's title/expression, "hidden (version 1 answer)" for a _withcond_ role, None if unconditional."""

    def describe(self) -> str:
        text = f"{self.role} on the {self.scope} via {self.via}"
        return f"{text} (only when: {self.condition})" if self.condition else text


@dataclass(frozen=True)
class Access:
    granted: list[Grant] = field(default_factory=list)
    conditional: list[Grant] = field(default_factory=list)

    @property
    def can_invoke(self) -> bool:
        return bool(self.granted)


_SERVICE_ACCOUNT = re.compile(r"^[a-z0-9][a-z0-9-]{4,61}@[a-z0-9-]+\.iam\.gserviceaccount\.com$|"
                              r"^[0-9]+-compute@developer\.gserviceaccount\.com$")
"""A service account's email: NAME@PROJECT.iam.gserviceaccount.com, or the Compute Engine default
PROJECT_NUMBER-compute@developer.gserviceaccount.com (https://cloud.google.com/iam/docs/service-account-types)."""


def service_account_email(value: str) -> str:
    """`value` if it is a service account's email; a typo here would report every service as not invokable."""
    if not _SERVICE_ACCOUNT.match(value):
        raise ValueError(
            f"not a service account email: {value[:100]!r} (expected NAME@PROJECT.iam.gserviceaccount.com or "
            "PROJECT_NUMBER-compute@developer.gserviceaccount.com)"
        )
    return value


def service_account_member(value: str) -> str:
    """`value` if it is an IAM member `serviceAccount:EMAIL` (the push account that must invoke)."""
    kind, _, email = value.partition(":")
    if kind != "serviceAccount":
        raise ValueError(f"expected serviceAccount:EMAIL, got {value[:100]!r}")
    service_account_email(email)
    return value


def binding_command(verb: str, pipeline: Pipeline, service: str, *, member: str, role: str) -> str:
    """`gcloud run services add|remove-iam-policy-binding` for one member and role on a service."""
    return shell_command(
        "gcloud", "run", "services", f"{verb}-iam-policy-binding", service,
        region=pipeline.region, member=member, role=role, project=pipeline.project,
    )


PUSH_MAX_BACKOFF_MINUTES = 10
"""Pub/Sub retries an unacknowledged push with exponential backoff of at most 600 s by default
(https://cloud.google.com/pubsub/docs/subscription-retry-policy), and keeps an unacked message for the
subscription's message retention, 7 days by default (https://cloud.google.com/pubsub/docs/subscription-properties)."""
BACKUP_AFTER_MINUTES = 15
"""How long after the binding is back the phase gets to start by itself before the backup job is run."""


def hop_details(pipeline: Pipeline, service: str) -> dict[str, Any]:
    """The transition ("from->to") the service helps start and, on a push path of several hops, its `hop`
    (1-based position) there, for its findings' details."""
    hops = pipeline.hops_of(service)
    if not hops:
        return {}
    return {"transition": hops[0].transition, **({"hop": hops[0].position} if hops[0].of > 1 else {})}


def hop_note(pipeline: Pipeline, service: str) -> str:
    """' (second hop of X->Y: topic -> service)' when the service is one of several hops; '' otherwise."""
    hops = [h for h in pipeline.hops_of(service) if h.of > 1]
    return f" ({hops[0].describe(with_transition=True)})" if hops else ""


def restore_invoker_fix(pipeline: Pipeline, service: str, binding: str) -> str:
    """The fix of a push account that cannot invoke a service that starts a phase, in the order to follow it:
    the binding (runnable as printed), then, as a shell comment, what happens next and when (only then) to
    run the backup job: running it first may run the phase twice once the redelivered pushes arrive."""
    transitions = pipeline.transitions_started_by(service)
    if not transitions:
        return binding
    phases = " and ".join(dict.fromkeys(t.to_phase for t in transitions))
    steps = [
        f"1) this binding. 2) Then wait: Pub/Sub redelivers the pushes it could not deliver (unacked messages are "
        f"kept for the subscription's message retention, 7 days by default; a retry comes at most every "
        f"{PUSH_MAX_BACKOFF_MINUTES} min), so {phases} should start by itself within minutes."
    ]
    backups = list(dict.fromkeys(
        run_job_command(t.backup_job, project=pipeline.project, location=pipeline.region) if t.backup_job else t.next_step
        for t in transitions if t.backup_job or t.next_step
    ))
    if backups:
        steps.append(
            f"3) Only if {phases} has not started {BACKUP_AFTER_MINUTES} min after the binding is back, run the "
            f"backup job (not before: it may run the phase twice): {' && '.join(backups)}"
        )
    return f"{binding}  # " + " ".join(steps)


def _bindings(policy: Policy) -> list[dict[str, Any]]:
    bindings = policy.get("bindings") or []
    if not isinstance(bindings, list):
        raise ValueError("the policy's 'bindings' is not a list")
    return [b for b in bindings if isinstance(b, dict)]


def invoker_role(role: str) -> tuple[str, bool] | None:
    """(the role, whether a v1 answer marked it conditional) when `role` carries run.routes.invoke, else None."""
    base, marked, _hash = role.partition(WITHCOND)
    if base in INVOKER_ROLES:
        return base, bool(marked)
    return None


def _condition_text(binding: dict[str, Any], withcond: bool) -> str | None:
    condition = binding.get("condition")
    if condition:
        if isinstance(condition, dict):
            return str(condition.get("title") or condition.get("expression") or "a condition")
        return str(condition)
    return "hidden (the policy was answered as version 1)" if withcond else None


def grants_to(member: str, policy: Policy, *, scope: str) -> list[Grant]:
    """Every binding of `policy` whose role carries run.routes.invoke and whose members include `member`
    or a public member (a `deleted:` member never matches: it names a principal that no longer exists)."""
    found = []
    for binding in _bindings(policy):
        role = invoker_role(str(binding.get("role", "")))
        if role is None:
            continue
        members = binding.get("members") or []
        for via in (member, ALL_AUTHENTICATED_USERS, ALL_USERS):
            if via in members:
                found.append(Grant(scope=scope, role=role[0], via=via, condition=_condition_text(binding, role[1])))
    return found


def effective_access(member: str, *, service_policy: Policy, project_policy: Policy | None) -> Access:
    """Whether `member` may invoke the service, and through which bindings."""
    grants = grants_to(member, service_policy, scope="service")
    if project_policy is not None:
        grants += grants_to(member, project_policy, scope="project")
    return Access(
        granted=[g for g in grants if g.condition is None],
        conditional=[g for g in grants if g.condition is not None],
    )


def public_grants(policy: Policy) -> list[Grant]:
    """Unconditional bindings on the service that let allUsers or allAuthenticatedUsers invoke it."""
    return [
        Grant(scope="service", role=role[0], via=m)
        for b in _bindings(policy)
        if (role := invoker_role(str(b.get("role", "")))) is not None and _condition_text(b, role[1]) is None
        for m in (b.get("members") or [])
        if m in PUBLIC_MEMBERS
    ]
