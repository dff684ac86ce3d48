"""Part 1 on the gcp backend: the real run_v2 and resourcemanager_v3 REST clients against the Cloud Run
stand-in, which answers policy versions as IAM does (a version-1 read of a conditional policy gets a
ROLE_withcond_HASH role and no condition)."""

from __future__ import annotations

from typing import Any

from core.model import Judged
from demo.pipeline import invoker_policy
from monitors import orchestrator_iam
from monitors.base import CheckContext, Sources
from sources.cloud_run_iam import CloudRunIamPolicies
from tests.production import CONFIG, PUSH_MEMBER, SERVICES
from tests.scenario import utc
from tests.servers.fake_cloud_run import FakeCloudRun, fake_cloud_run  # noqa: F401

NOW = utc("2026-11-21T23:30")
CONDITIONAL = {"bindings": [{"role": "roles/run.invoker", "members": [PUSH_MEMBER],
                             "condition": {"title": "until 2026-12-31", "expression": "request.time < timestamp('2027-01-01T00:00:00Z')"}}]}


def check(fake: FakeCloudRun) -> Any:
    sources = Sources(warehouse=None, push=None, iam=CloudRunIamPolicies(endpoint=fake.endpoint, resource_manager_endpoint=fake.endpoint, timeout_seconds=5))  # type: ignore[arg-type]
    ctx = CheckContext(now=NOW, today=NOW.date(), zone=CONFIG.zone, pipeline=CONFIG.pipeline)
    return orchestrator_iam.check(CONFIG.monitors["orchestrator_iam"], sources, ctx)


def problems(result: Any) -> dict[str, str]:
    return {f.key["service"]: f.key["problem"] for f in result.findings}


def healthy(**overrides: Any) -> dict[str, Any]:
    return {**{s: invoker_policy(PUSH_MEMBER) for s in SERVICES}, **overrides}


def test_the_old_version_1_read_sees_a_withcond_role_and_no_condition(fake_cloud_run):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import run_v2

    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": CONDITIONAL}))
    client = run_v2.ServicesClient(transport="rest", client_options={"api_endpoint": fake_cloud_run.endpoint}, credentials=AnonymousCredentials())
    old = client.get_iam_policy(request={"resource": "projects/nba-props-platform/locations/us-west2/services/phase4-to-phase5-orchestrator"})
    [binding] = old.bindings
    # The pre-issue-10 monitor looked for role == "roles/run.invoker" and found none: a critical
    # missing_invoker with the wrong fix for what is a conditional grant.
    assert binding.role.startswith("roles/run.invoker_withcond_") and not binding.condition.expression
    assert old.version == 1


def test_the_version_3_read_answers_the_condition_and_judges_it_conditional(fake_cloud_run):
    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": CONDITIONAL}))
    result = check(fake_cloud_run)
    assert problems(result) == {"phase4-to-phase5-orchestrator": "conditional_invoker"}
    assert result.findings[0].details["access_from"] == [f"roles/run.invoker on the service via {PUSH_MEMBER} (only when: until 2026-12-31)"]
    assert any("options.requestedPolicyVersion=3" in path for _, path in fake_cloud_run.requests)


def test_a_project_grant_read_through_resource_manager_is_access(fake_cloud_run):
    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": {"etag": "BwY="}}))
    assert problems(check(fake_cloud_run)) == {"phase4-to-phase5-orchestrator": "missing_invoker"}
    fake_cloud_run.project_policy = {"bindings": [{"role": "roles/run.invoker", "members": [PUSH_MEMBER]}]}
    assert problems(check(fake_cloud_run)) == {}
    # A conditional project grant is answered (version 3) with its condition: conditional, not missing.
    fake_cloud_run.project_policy = {"bindings": [{**CONDITIONAL["bindings"][0]}]}
    assert problems(check(fake_cloud_run)) == {"phase4-to-phase5-orchestrator": "conditional_invoker"}


def test_run_admin_on_the_service_is_access(fake_cloud_run):
    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": {"bindings": [{"role": "roles/run.admin", "members": [PUSH_MEMBER]}]}}))
    assert problems(check(fake_cloud_run)) == {}


def test_a_denied_service_is_unread_and_the_others_are_judged(fake_cloud_run):
    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": {"etag": "BwY="}}))
    fake_cloud_run.denied_services = {"phase3-to-phase4-orchestrator"}
    result = check(fake_cloud_run)
    assert problems(result) == {"phase4-to-phase5-orchestrator": "missing_invoker"}
    judged: Judged = result.judged
    assert sorted(judged.targets) == sorted(set(SERVICES) - {"phase3-to-phase4-orchestrator"})
    [unread] = judged.unread
    assert (unread.target, unread.source) == ("phase3-to-phase4-orchestrator", "cloud_run")
    assert "403" in unread.error


def test_an_unreadable_project_policy_leaves_unread_only_the_services_it_decides(fake_cloud_run):
    fake_cloud_run.set_policies(healthy(**{"phase4-to-phase5-orchestrator": {"etag": "BwY="}}))
    fake_cloud_run.denied_project = True
    result = check(fake_cloud_run)
    # The other services' own policies grant access: judged. phase4-to-phase5's verdict needs the project's.
    assert problems(result) == {}
    [unread] = result.judged.unread
    assert (unread.target, unread.source) == ("phase4-to-phase5-orchestrator", "resource_manager")
    assert "403" in unread.error
