"""push_delivery's rules on the local backend: services.json, subscriptions.json and push_metrics.json in
the APIs' REST shapes, driven through the CLI."""

from __future__ import annotations

import shlex
from datetime import timedelta
from pathlib import Path

import pytest

from demo.pipeline import push_series
from sources.push import OLDEST_UNACKED_AGE, PUSH_REQUESTS
from tests.conftest import run_cli
from tests.production import PIPELINE, PUSH_MEMBER
from tests.scenario import Scenario, utc

NOW = "2026-11-21T23:30:00Z"
T = utc("2026-11-21T23:30")
SERVICE = "phase4-to-phase5-orchestrator"


def run(local_dir: Path, scenario: Scenario) -> dict:
    scenario.write_local(local_dir)
    result = run_cli("run", "--json", "--now", NOW, "--monitors", "push_delivery")
    assert result.code == 0, result.stderr
    return result.report


def problems(report: dict) -> list[tuple[str, str]]:
    return sorted((f["key"]["service"], f["key"]["problem"]) for f in report["findings"])


def sub_of(scenario: Scenario, service: str) -> dict:
    return next(s for s in scenario.subscriptions if service in s["pushConfig"]["pushEndpoint"])


def sid(subscription: dict) -> str:
    return subscription["name"].rsplit("/", 1)[-1]


def pushes(scenario: Scenario, service: str, response_class: str, code: str, counts: list[int], *, minutes_ago: int = 1) -> Scenario:
    points = [(T - timedelta(minutes=minutes_ago + i), n) for i, n in enumerate(counts)]
    scenario.push_series.append(push_series(PIPELINE.project, sid(sub_of(scenario, service)), PUSH_REQUESTS, points,
                                            response_class=response_class, response_code=code))
    return scenario


def test_a_healthy_chain_without_traffic_is_ok(local_dir):
    report = run(local_dir, Scenario())
    assert report["findings"] == []
    assert next(m for m in report["monitors"] if m["name"] == "push_delivery")["outcome"] == "ok"


def test_no_subscription_pushing_to_a_service_is_critical(local_dir):
    scenario = Scenario()
    scenario.subscriptions.remove(sub_of(scenario, SERVICE))
    [found] = run(local_dir, scenario)["findings"]
    assert (found["key"], found["severity"]) == ({"service": SERVICE, "problem": "no_subscription"}, "critical")
    assert "gcloud pubsub subscriptions list" in found["fix"]


def test_subscriptions_match_by_host_ignoring_eventarc_s_query_string_and_the_path(local_dir):
    scenario = Scenario()
    # The Eventarc endpoint carries ?__GCP_CloudEventsMode=...; another service's host never matches.
    assert "?__GCP_CloudEventsMode=" in sub_of(scenario, SERVICE)["pushConfig"]["pushEndpoint"]
    sub_of(scenario, SERVICE)["pushConfig"]["pushEndpoint"] = "https://elsewhere-756957797294.us-west2.run.app/?x=1"
    assert problems(run(local_dir, scenario)) == [(SERVICE, "no_subscription")]


def test_the_legacy_url_host_counts_too(local_dir):
    scenario = Scenario()
    sub_of(scenario, SERVICE)["pushConfig"]["pushEndpoint"] = scenario.services[SERVICE]["urls"][1] + "/process"
    assert run(local_dir, scenario)["findings"] == []


def test_a_push_without_oidc_token_to_an_authenticated_service_is_critical(local_dir):
    scenario = Scenario()
    del sub_of(scenario, SERVICE)["pushConfig"]["oidcToken"]
    [found] = run(local_dir, scenario)["findings"]
    assert found["key"] == {"service": SERVICE, "problem": "unauthenticated_push"}
    assert f"--push-auth-service-account={PUSH_MEMBER.split(':', 1)[1]}" in found["fix"]


def test_no_token_is_fine_when_the_service_is_public_or_skips_the_invoker_check(local_dir):
    scenario = Scenario()
    del sub_of(scenario, SERVICE)["pushConfig"]["oidcToken"]
    scenario.services[SERVICE]["invokerIamDisabled"] = True
    assert run(local_dir, scenario)["findings"] == []


def test_the_subscription_s_own_account_is_judged_not_the_configured_one(local_dir):
    scenario = Scenario()
    sub_of(scenario, SERVICE)["pushConfig"]["oidcToken"]["serviceAccountEmail"] = "eventarc-trigger@nba-props-platform.iam.gserviceaccount.com"
    [found] = run(local_dir, scenario)["findings"]
    assert found["key"] == {"service": SERVICE, "problem": "push_account_cannot_invoke"}
    assert found["details"]["push_account"] == "eventarc-trigger@nba-props-platform.iam.gserviceaccount.com"
    # Issue 20, Why 7: the subscription's account is not the configured one; granting it would let whoever made
    # the subscription choose who may invoke. The fix points the subscription at the configured account.
    configured = PUSH_MEMBER.split(":", 1)[1]
    assert "eventarc-trigger" not in found["fix"] and "add-iam-policy-binding" not in found["fix"]
    assert shlex.split(found["fix"]) == [
        "gcloud", "pubsub", "subscriptions", "update", sid(sub_of(scenario, SERVICE)),
        f"--push-endpoint={sub_of(scenario, SERVICE)['pushConfig']['pushEndpoint']}",
        f"--push-auth-service-account={configured}", "--project=nba-props-platform",
    ]
    assert configured in found["details"]["check_first"] and "not as the configured push account" in found["details"]["check_first"]


def test_a_foreign_push_account_when_the_configured_one_cannot_invoke_either_gets_both_commands(local_dir):
    scenario = Scenario().policy(SERVICE, {"bindings": []})
    sub_of(scenario, SERVICE)["pushConfig"]["oidcToken"]["serviceAccountEmail"] = "someone@else.iam.gserviceaccount.com"
    found = next(f for f in run(local_dir, scenario)["findings"] if f["key"]["problem"] == "push_account_cannot_invoke")
    update, grant = found["fix"].split(" && ")
    assert update.startswith("gcloud pubsub subscriptions update ") and "someone@else" not in found["fix"]
    assert f"--member={PUSH_MEMBER}" in grant and grant.startswith(f"gcloud run services add-iam-policy-binding {SERVICE} ")


def test_the_repoint_fix_is_accepted_by_the_real_gcloud_parser(local_dir, tmp_path):
    import os
    import shutil
    import subprocess

    gcloud = shutil.which("gcloud", path="/usr/bin:/usr/local/bin:" + os.environ.get("PATH", ""))
    if gcloud is None:
        pytest.skip("the gcloud CLI is not installed")
    scenario = Scenario().policy(SERVICE, {"bindings": []})
    sub_of(scenario, SERVICE)["pushConfig"]["oidcToken"]["serviceAccountEmail"] = "someone@else.iam.gserviceaccount.com"
    found = next(f for f in run(local_dir, scenario)["findings"] if f["key"]["problem"] == "push_account_cannot_invoke")
    # As tests/test_deploy.py does: an empty gcloud configuration, so a well-formed command stops at "no active
    # account" (exit 1) before reaching Google; an unknown flag or a malformed value exits 2.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CLOUDSDK_", "GOOGLE_"))}
    env.update(CLOUDSDK_CONFIG=str(tmp_path), CLOUDSDK_CORE_DISABLE_PROMPTS="1",
               CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK="1")
    for command in found["fix"].split(" && "):
        argv = shlex.split(command)
        done = subprocess.run([gcloud, *argv[1:]], capture_output=True, text=True, timeout=120, env=env, stdin=subprocess.DEVNULL)
        assert done.returncode == 1 and "You do not currently have an active account selected" in done.stderr, (
            command, done.returncode, done.stderr[:400])


def test_the_push_account_s_access_may_come_from_the_project(local_dir):
    scenario = Scenario().policy(SERVICE, {"bindings": []})
    assert problems(run(local_dir, scenario)) == [(SERVICE, "push_account_cannot_invoke")]
    scenario.project_policy = {"bindings": [{"role": "roles/run.invoker", "members": [PUSH_MEMBER]}]}
    assert run(local_dir, scenario)["findings"] == []


def test_failing_pushes_over_the_thresholds_are_critical_with_counts_by_class_and_code(local_dir):
    scenario = pushes(Scenario(), SERVICE, "remote_server_4xx", "403", [3, 3])
    pushes(scenario, SERVICE, "ack", "success", [1])
    scenario.push_series.append(push_series(PIPELINE.project, sid(sub_of(scenario, SERVICE)), OLDEST_UNACKED_AGE,
                                            [(T - timedelta(minutes=2), 900)]))
    [found] = run(local_dir, scenario)["findings"]
    assert found["key"] == {"service": SERVICE, "problem": "pushes_failing"}
    assert found["details"]["pushes_by_class_and_code"] == {"ack/success": 1, "remote_server_4xx/403": 6}
    assert (found["details"]["failed"], found["details"]["total"]) == (6, 7)
    assert found["details"]["oldest_unacked_message_age_s"] == 900


@pytest.mark.parametrize(
    "failed, acked, fires",
    [([2, 2], [], False), ([5], [], True), ([5], [6], False), ([5], [5], True)],
    ids=["4 failed: under min_failed", "5 of 5", "5 of 11: under the ratio", "5 of 10: at the ratio"],
)
def test_pushes_failing_thresholds(local_dir, failed, acked, fires):
    scenario = pushes(Scenario(), SERVICE, "remote_server_5xx", "503", failed)
    if acked:
        pushes(scenario, SERVICE, "ack", "success", acked)
    assert (problems(run(local_dir, scenario)) == [(SERVICE, "pushes_failing")]) is fires


def test_pushes_outside_the_window_and_no_traffic_are_not_findings(local_dir):
    scenario = pushes(Scenario(), SERVICE, "remote_server_4xx", "403", [9], minutes_ago=31)
    assert run(local_dir, scenario)["findings"] == []


def test_an_old_unacked_message_is_a_backlog_warning(local_dir):
    scenario = Scenario()
    scenario.push_series.append(push_series(PIPELINE.project, sid(sub_of(scenario, SERVICE)), OLDEST_UNACKED_AGE,
                                            [(T - timedelta(minutes=5), 3601)]))
    [found] = run(local_dir, scenario)["findings"]
    assert (found["key"], found["severity"]) == ({"service": SERVICE, "problem": "backlog"}, "warning")


def test_an_unreadable_subscriptions_file_errors_the_monitor(local_dir):
    Scenario().write_local(local_dir)
    (local_dir / "subscriptions.json").write_text("{oops")
    report = run_cli("run", "--json", "--now", NOW, "--monitors", "push_delivery").report
    assert report["monitors"][0]["outcome"] == "error"
    assert [f["key"] for f in report["findings"]] == [{"monitor": "push_delivery", "problem": "error"}]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('window = "30m"', 'window = "30m"\nservices = ["phase2-to-phase3-orchestrator"]',
         "monitors.push_delivery.services[0]: unknown service 'phase2-to-phase3-orchestrator'"),
        ("min_failed_ratio = 0.5          # ... making up at least this share of all pushes", "min_failed_ratio = 1.5",
         "monitors.push_delivery.min_failed_ratio"),
        ('max_backlog_age = "1h"          # backlog when the oldest unacked message is older', 'max_backlog_age = "soon"',
         "monitors.push_delivery.max_backlog_age"),
    ],
)
def test_a_bad_push_delivery_table_names_the_key(local_dir, tmp_path, monkeypatch, old, new, message):
    from tests.production import production_toml

    path = tmp_path / "canary.toml"
    path.write_text(production_toml(old, new), encoding="utf-8")
    monkeypatch.setenv("CANARY_CONFIG", str(path))
    Scenario().write_local(local_dir)
    result = run_cli("run", "--json", "--now", NOW)
    assert result.code == 2 and message in result.stderr, result.stderr


def test_pushes_failing_neither_resolves_without_traffic_nor_when_the_backlog_gauge_is_absent(local_dir):
    failing = pushes(Scenario(), SERVICE, "remote_server_4xx", "403", [6])
    first = run(local_dir, failing)
    assert problems(first) == [(SERVICE, "pushes_failing")]
    # Half an hour later nothing was pushed at all (no series in the window): not health, so no resolution.
    quiet = Scenario()
    quiet.write_local(local_dir)
    later = run_cli("run", "--json", "--now", "2026-11-21T23:45:00Z", "--monitors", "push_delivery").report
    assert later["findings"] == [] and later["notifications"] == []
    # Pushes acked again: healthy traffic resolves it.
    healed = pushes(Scenario(), SERVICE, "ack", "success", [4])
    healed.push_series[0]["points"][0]["interval"]["endTime"] = "2026-11-22T00:00:00Z"
    healed.write_local(local_dir)
    resolved = run_cli("run", "--json", "--now", "2026-11-22T00:00:00Z", "--monitors", "push_delivery").report
    assert [n["reason"] for n in resolved["notifications"]] == ["resolved"]
