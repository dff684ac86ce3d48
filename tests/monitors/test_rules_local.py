"""Each monitor rule, driven through the CLI on generated DuckDB data and IAM files (the local backend)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest

from demo.pipeline import invoker_policy
from tests.production import PUSH_MEMBER, production_toml
from tests.conftest import run_cli
from tests.scenario import Scenario, local, utc

D = date(2026, 11, 21)
EVENING = "2026-11-21T23:30:00Z"  # 18:30 in New York on D


def run(local_dir: Path, scenario: Scenario, now: str = EVENING, *extra: str) -> dict:
    scenario.write_local(local_dir)
    result = run_cli("run", "--json", "--now", now, *extra)
    assert result.code == 0, result.stderr
    return result.report


def keys(report: dict, monitor: str) -> list[dict]:
    return sorted((f["key"] for f in report["findings"] if f["monitor"] == monitor), key=lambda k: sorted(k.items()))


def outcome(report: dict, monitor: str) -> str:
    return next(m["outcome"] for m in report["monitors"] if m["name"] == monitor)


# --- orchestrator_iam -------------------------------------------------------------------------


def test_healthy_policies_give_no_iam_finding(local_dir):
    report = run(local_dir, Scenario(), EVENING, "--monitors", "orchestrator_iam")
    assert outcome(report, "orchestrator_iam") == "ok"
    assert report["findings"] == []


def test_policy_without_any_binding_is_missing_invoker_with_the_exact_fix(local_dir):
    scenario = Scenario().policy("phase4-to-phase5-orchestrator", {"etag": "BwY="})
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    [found] = report["findings"]
    assert found["key"] == {"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"}
    assert found["severity"] == "critical"
    # In the order to follow it: the binding (what a shell runs of the line), what happens next, and only
    # then the backup job (a shell comment: pasting the whole line runs the binding only).
    binding, _, after = found["fix"].partition("  # ")
    assert binding == (
        "gcloud run services add-iam-policy-binding phase4-to-phase5-orchestrator --region=us-west2 "
        "--member=serviceAccount:756957797294-compute@developer.gserviceaccount.com --role=roles/run.invoker "
        "--project=nba-props-platform"
    )
    assert after.index("1) this binding") < after.index("2) Then wait: Pub/Sub redelivers") < after.index("3) Only if")
    assert "phase_5_predictions should start by itself within minutes" in after
    assert after.endswith("not started 15 min after the binding is back, run the backup job (not before: it may run the "
                          "phase twice): gcloud scheduler jobs run same-day-predictions --location=us-west2 --project=nba-props-platform")


def test_member_holding_another_role_is_still_missing_invoker(local_dir):
    policy = {"bindings": [{"role": "roles/run.viewer", "members": [PUSH_MEMBER]},
                           {"role": "roles/run.invoker", "members": ["serviceAccount:other@x.iam.gserviceaccount.com"]}]}
    report = run(local_dir, Scenario().policy("phase3-to-phase4-orchestrator", policy), EVENING, "--monitors", "orchestrator_iam")
    assert keys(report, "orchestrator_iam") == [{"service": "phase3-to-phase4-orchestrator", "problem": "missing_invoker"}]


def test_member_named_in_a_string_is_not_a_binding(local_dir):
    # A grep for "roles/run.invoker" would pass this policy: the role appears only in a condition's text.
    policy = {"bindings": [{"role": "roles/run.viewer", "members": [PUSH_MEMBER],
                            "condition": {"title": "roles/run.invoker", "expression": "true"}}]}
    report = run(local_dir, Scenario().policy("phase3-to-phase4-orchestrator", policy), EVENING, "--monitors", "orchestrator_iam")
    assert keys(report, "orchestrator_iam") == [{"service": "phase3-to-phase4-orchestrator", "problem": "missing_invoker"}]


def test_only_a_conditional_invoker_binding_is_a_warning(local_dir):
    policy = {"bindings": [{"role": "roles/run.invoker", "members": [PUSH_MEMBER],
                            "condition": {"title": "business hours", "expression": "request.time.getHours('America/New_York') < 18"}}]}
    report = run(local_dir, Scenario().policy("phase5-to-phase6-orchestrator", policy), EVENING, "--monitors", "orchestrator_iam")
    [found] = report["findings"]
    assert found["key"] == {"service": "phase5-to-phase6-orchestrator", "problem": "conditional_invoker"}
    assert found["severity"] == "warning"
    assert found["details"]["access_from"] == [
        "roles/run.invoker on the service via " + PUSH_MEMBER + " (only when: business hours)"
    ]


def test_conditional_beside_an_unconditional_binding_is_fine(local_dir):
    policy = {"bindings": [{"role": "roles/run.invoker", "members": [PUSH_MEMBER], "condition": {"title": "t", "expression": "false"}},
                           {"role": "roles/run.invoker", "members": [PUSH_MEMBER]}]}
    report = run(local_dir, Scenario().policy("phase5-to-phase6-orchestrator", policy), EVENING, "--monitors", "orchestrator_iam")
    assert report["findings"] == []


def test_public_invoker_is_a_warning_even_when_the_member_is_bound(local_dir):
    scenario = Scenario().policy("phase3-to-phase4-orchestrator", invoker_policy(PUSH_MEMBER, "allUsers"))
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    [found] = report["findings"]
    assert (found["key"]["problem"], found["severity"]) == ("public_invoker", "warning")
    assert found["details"]["public_members"] == ["allUsers"]


@pytest.mark.parametrize(
    "bindings, where",
    [
        ([{"role": "roles/run.admin", "members": [PUSH_MEMBER]}], "roles/run.admin: run.* includes run.routes.invoke"),
        ([{"role": "roles/run.developer", "members": [PUSH_MEMBER]}], "roles/run.developer lists run.routes.invoke"),
        ([{"role": "roles/run.servicesInvoker", "members": [PUSH_MEMBER]}], "roles/run.servicesInvoker"),
        ([{"role": "roles/run.invoker", "members": ["allAuthenticatedUsers"]}], "allAuthenticatedUsers includes every service account"),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_effective_access_on_the_service_is_not_missing_invoker(local_dir, bindings, where):
    scenario = Scenario().policy("phase4-to-phase5-orchestrator", {"bindings": bindings})
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    assert "missing_invoker" not in [k["problem"] for k in keys(report, "orchestrator_iam")], where


@pytest.mark.parametrize("role", ["roles/run.invoker", "roles/editor", "roles/owner"])
def test_a_project_level_grant_is_access_the_service_policy_does_not_show(local_dir, role):
    scenario = Scenario().policy("phase4-to-phase5-orchestrator", {"etag": "BwY="})
    scenario.write_local(local_dir)
    (local_dir / "project_iam_policy.json").write_text(json.dumps({"bindings": [{"role": role, "members": [PUSH_MEMBER]}]}))
    result = run_cli("run", "--json", "--now", EVENING, "--monitors", "orchestrator_iam")
    assert result.report["findings"] == []


def test_a_deleted_member_and_a_viewer_grant_nothing(local_dir):
    deleted = f"deleted:{PUSH_MEMBER}?uid=123456789012345678901"
    scenario = Scenario().policy("phase4-to-phase5-orchestrator", {"bindings": [
        {"role": "roles/run.invoker", "members": [deleted]}, {"role": "roles/run.viewer", "members": [PUSH_MEMBER]},
    ]})
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    assert keys(report, "orchestrator_iam") == [{"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"}]


def test_a_withcond_role_of_a_version_1_answer_is_conditional_never_missing(local_dir):
    # https://cloud.google.com/iam/docs/troubleshooting-withcond: the condition is hidden, the role renamed.
    policy = {"version": 1, "bindings": [{"role": "roles/run.invoker_withcond_2b17cc25d2cd9e2c54d8", "members": [PUSH_MEMBER]}]}
    report = run(local_dir, Scenario().policy("phase4-to-phase5-orchestrator", policy), EVENING, "--monitors", "orchestrator_iam")
    [found] = report["findings"]
    assert (found["key"]["problem"], found["severity"]) == ("conditional_invoker", "warning")
    assert "hidden" in found["details"]["access_from"][0]


def test_one_unreadable_policy_is_that_service_s_degraded_and_the_others_are_judged(local_dir):
    scenario = Scenario().policy("phase4-to-phase5-orchestrator", {"etag": "BwY="})
    scenario.policies["phase3-to-phase4-orchestrator"] = ["not", "a", "policy"]  # type: ignore[assignment]
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    assert outcome(report, "orchestrator_iam") == "firing"
    assert keys(report, "orchestrator_iam") == [{"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"}]
    assert keys(report, "canary") == [
        {"monitor": "orchestrator_iam", "service": "phase3-to-phase4-orchestrator", "problem": "error"}
    ]


def test_an_unread_service_neither_fires_nor_resolves_and_a_read_one_resolves(local_dir):
    broken = Scenario().policy("phase4-to-phase5-orchestrator", {"etag": "BwY="}).policy("phase3-to-phase4-orchestrator", {"etag": "BwY="})
    first = run(local_dir, broken, EVENING, "--monitors", "orchestrator_iam")
    assert len(keys(first, "orchestrator_iam")) == 2
    fixed_one_unread_other = Scenario()
    fixed_one_unread_other.policies["phase3-to-phase4-orchestrator"] = "unreadable"  # type: ignore[assignment]
    later = run(local_dir, fixed_one_unread_other, "2026-11-21T23:45:00Z", "--monitors", "orchestrator_iam")
    resolved = {f["fingerprint"] for f in first["findings"] if f["key"]["service"] == "phase4-to-phase5-orchestrator"}
    assert [(n["fingerprint"], n["reason"]) for n in later["notifications"] if n["reason"] == "resolved"] == [
        (resolved.pop(), "resolved")
    ]


def test_absent_service_is_not_found_and_the_removed_orchestrator_is_not_checked(local_dir):
    scenario = Scenario().policy("phase5-to-phase6-orchestrator", None)
    scenario.policies.pop("phase2-to-phase3-orchestrator", None)
    report = run(local_dir, scenario, EVENING, "--monitors", "orchestrator_iam")
    assert keys(report, "orchestrator_iam") == [{"service": "phase5-to-phase6-orchestrator", "problem": "not_found"}]


# --- phase_stalls -----------------------------------------------------------------------------


def test_complete_phase_without_downstream_after_the_delay_is_stalled(local_dir):
    scenario = Scenario().phase_complete(D, "phase_2_raw", local(D, "07:00"))
    report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    [found] = report["findings"]
    assert found["key"] == {"transition": "phase_2_raw->phase_3_analytics", "game_date": "2026-11-21", "problem": "stalled"}
    assert found["details"]["upstream_processors_succeeded"] == 6
    # Complete at its 5th processor (session 205: ">= 5"), 06:58 ET = 11:58 UTC, + 30 min.
    assert found["since"] == "2026-11-21T12:28:00Z"
    assert "same-day-phase3" in found["fix"]


def test_within_the_delay_is_not_a_stall_yet(local_dir):
    scenario = Scenario().phase_complete(D, "phase_2_raw", utc("2026-11-21T23:05"))
    assert run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")["findings"] == []


def test_an_incomplete_phase_is_never_a_stall(local_dir):
    scenario = Scenario().phase_complete(D, "phase_2_raw", local(D, "07:00"), count=4)
    assert run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")["findings"] == []


def test_failed_rows_never_count_toward_completion(local_dir):
    scenario = Scenario().phase_complete(D, "phase_2_raw", local(D, "07:00"), count=4)
    scenario.completion(D, "phase_2_raw", "phase_2_raw_proc_4", local(D, "07:10"), status="failed")
    scenario.completion(D, "phase_2_raw", "phase_2_raw_proc_5", local(D, "07:20"), status="running")
    # Never a stall; the failed run (not the running one) is its own warning, never retried since.
    report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    assert keys(report, "phase_stalls") == [
        {"phase": "phase_2_raw", "processor": "phase_2_raw_proc_4", "game_date": "2026-11-21", "problem": "failed"}
    ]


def test_phase_3_running_several_times_a_day_does_not_move_its_completion(local_dir):
    scenario = Scenario().phase_complete(D, "phase_3_analytics", local(D, "09:00"))
    # Reruns later in the day: completion stays at the first success of the 5th processor.
    for hours in (4, 7):
        scenario.phase_complete(D, "phase_3_analytics", local(D, "09:00") + timedelta(hours=hours))
    scenario.phase_complete(D, "phase_4_precompute", local(D, "10:30"))
    scenario.phase_complete(D, "phase_5_predictions", local(D, "12:00"), count=1)
    scenario.phase_complete(D, "phase_6_publishing", local(D, "12:40"), count=1)
    assert run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")["findings"] == []


def test_downstream_success_only_before_completion_does_not_count(local_dir):
    scenario = Scenario().phase_complete(D, "phase_4_precompute", local(D, "10:30"))
    scenario.phase_complete(D, "phase_5_predictions", local(D, "08:00"), count=1)  # an early run, before phase 4 finished
    scenario.phase_complete(D, "phase_6_publishing", local(D, "08:30"), count=1)
    report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    assert keys(report, "phase_stalls") == [{"transition": "phase_4_precompute->phase_5_predictions", "game_date": "2026-11-21", "problem": "stalled"}]
    assert report["findings"][0]["details"]["downstream_last_success_at"] is not None
    finding = report["findings"][0]
    assert finding["fix"] == "gcloud scheduler jobs run same-day-predictions --location=us-west2 --project=nba-props-platform"
    assert finding["details"]["check_first"].startswith("an orchestrator_iam alert for phase4-to-phase5-orchestrator")


def test_downstream_failures_are_evidence_not_success(local_dir):
    scenario = Scenario().phase_complete(D, "phase_4_precompute", local(D, "10:30"))
    scenario.completion(D, "phase_5_predictions", "PredictionCoordinator", local(D, "11:00"), status="failed")
    report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    found, failed = sorted(report["findings"], key=lambda f: f["key"]["problem"] != "stalled")
    assert found["details"]["downstream_failed_runs"] == 1
    # The failed run is also its own warning, explained by the stall into its phase (one incident).
    assert failed["key"] == {"phase": "phase_5_predictions", "processor": "PredictionCoordinator", "game_date": "2026-11-21",
                             "problem": "failed"}
    assert failed["severity"] == "warning" and failed["caused_by"] == found["fingerprint"]


def test_required_processors_rule(local_dir, tmp_path):
    config = tmp_path / "canary.toml"
    config.write_text(production_toml(
        "min_processors = 5              #", 'required_processors = ["NbacGamebookProcessor", "NbacScheduleProcessor"]  #'
    ))
    scenario = Scenario()
    scenario.completion(D, "phase_2_raw", "NbacGamebookProcessor", local(D, "07:00"))
    for index in range(8):
        scenario.completion(D, "phase_2_raw", f"Other{index}", local(D, "07:00"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("CANARY_CONFIG", str(config))
        assert run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")["findings"] == []
        scenario.completion(D, "phase_2_raw", "NbacScheduleProcessor", local(D, "08:00"))
        report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    [found] = report["findings"]
    assert found["details"]["upstream_complete_at"] == local(D, "08:00").isoformat()


def test_near_midnight_eastern_today_is_the_league_date_not_utc(local_dir):
    # 04:30 UTC on the 22nd is 23:30 on the 21st in New York: "yesterday" is the 20th, which UTC would skip.
    day_before = D - timedelta(days=1)
    scenario = Scenario().phase_complete(day_before, "phase_2_raw", local(day_before, "07:00"))
    report = run(local_dir, scenario, "2026-11-22T04:30:00Z", "--monitors", "phase_stalls")
    assert report["today"] == "2026-11-21"
    assert keys(report, "phase_stalls") == [{"transition": "phase_2_raw->phase_3_analytics", "game_date": "2026-11-20", "problem": "stalled"}]


def test_rows_after_now_are_not_seen(local_dir):
    scenario = Scenario().phase_complete(D, "phase_2_raw", local(D, "07:00"))
    scenario.phase_complete(D, "phase_3_analytics", local(D, "20:00"))  # after the run's clock (18:30)
    report = run(local_dir, scenario, EVENING, "--monitors", "phase_stalls")
    assert keys(report, "phase_stalls")[0]["transition"] == "phase_2_raw->phase_3_analytics"


def test_no_completions_at_all_is_no_data(local_dir):
    report = run(local_dir, Scenario(), EVENING, "--monitors", "phase_stalls")
    assert outcome(report, "phase_stalls") == "no_data"
    assert report["findings"] == []


# --- missing_predictions ----------------------------------------------------------------------


def games(scenario: Scenario, *ids: str, start: str | None = "19:00") -> Scenario:
    for game_id in ids:
        scenario.game(D, game_id, start=local(D, start) if start else None)
    return scenario


def test_a_day_without_games_is_no_data_and_says_why(local_dir):
    report = run(local_dir, Scenario(), EVENING, "--monitors", "missing_predictions")
    assert outcome(report, "missing_predictions") == "no_data"
    assert report["monitors"][0]["note"] == "no games scheduled on 2026-11-21"


def test_not_yet_due_is_quiet(local_dir):
    scenario = games(Scenario(), "g1", "g2")
    report = run(local_dir, scenario, "2026-11-21T20:59:00Z", "--monitors", "missing_predictions")  # 15:59 ET, due 16:00
    assert (outcome(report, "missing_predictions"), report["findings"]) == ("ok", [])


def test_due_without_any_active_prediction_is_none(local_dir):
    scenario = games(Scenario(), "g1", "g2")
    scenario.predictions(D, "g1", created_at=local(D, "12:00"), system_id="ensemble_v1")  # another system
    scenario.predictions(D, "g2", created_at=local(D, "12:00"), is_active=False)  # inactive
    report = run(local_dir, scenario, "2026-11-21T21:00:00Z", "--monitors", "missing_predictions")
    [found] = report["findings"]
    assert found["key"] == {"game_date": "2026-11-21", "system_id": "catboost_v9", "problem": "none"}
    assert (found["severity"], found["details"]["games_scheduled"]) == ("critical", 2)


def test_some_games_without_predictions_is_partial_listing_them(local_dir):
    scenario = games(Scenario(), "g1", "g2", "g3")
    scenario.predictions(D, "g1", created_at=local(D, "12:00"), is_active=None)  # NULL is active
    report = run(local_dir, scenario, EVENING, "--monitors", "missing_predictions")
    [found] = report["findings"]
    assert (found["key"]["problem"], found["severity"]) == ("partial", "warning")
    assert found["details"]["missing_games"] == ["g2", "g3"]


def test_postponed_and_cancelled_games_owe_nothing(local_dir):
    scenario = games(Scenario(), "g1")
    scenario.game(D, "g2", start=local(D, "19:00"), status="postponed").game(D, "g3", start=None, status="cancelled")
    scenario.predictions(D, "g1", created_at=local(D, "12:00"))
    report = run(local_dir, scenario, EVENING, "--monitors", "missing_predictions")
    assert report["findings"] == []


def test_without_start_times_predictions_are_due_at_13_local(local_dir):
    scenario = games(Scenario(), "g1", start=None)
    assert run(local_dir, scenario, "2026-11-21T17:59:00Z", "--monitors", "missing_predictions")["findings"] == []
    report = run(local_dir, scenario, "2026-11-21T18:00:00Z", "--monitors", "missing_predictions")
    assert report["findings"][0]["details"]["due_at"] == "2026-11-21T13:00:00-05:00"


def test_predictions_created_after_now_do_not_count(local_dir):
    scenario = games(Scenario(), "g1")
    scenario.predictions(D, "g1", created_at=local(D, "18:45"))
    report = run(local_dir, scenario, EVENING, "--monitors", "missing_predictions")
    assert keys(report, "missing_predictions")[0]["problem"] == "none"
