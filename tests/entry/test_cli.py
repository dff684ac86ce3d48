"""The CLI as an operator runs it: reports, dedup across runs, dry runs, exit codes, bad input, broken sources."""

from __future__ import annotations

import json
import sqlite3
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo
from pathlib import Path

import duckdb
import pytest

from demo.pipeline import invoker_policy
from tests.production import PRODUCTION_TOML, PUSH_MEMBER, production_toml
from tests.conftest import run_cli
from tests.scenario import Scenario, local

D = date(2026, 11, 21)
T0 = "2026-11-21T23:30:00Z"


def broken_iam() -> Scenario:
    return Scenario().policy("phase4-to-phase5-orchestrator", {"bindings": []})


def stalled_day() -> Scenario:
    return broken_iam().phase_complete(D, "phase_2_raw", local(D, "07:00"))


def notices(report: dict) -> list[tuple[str, bool]]:
    return sorted((n["reason"], n["delivered"]) for n in report["notifications"])


def jsonl(local_dir: Path) -> list[dict]:
    path = local_dir / "notifications.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_demo_tells_one_story_the_redeploy_that_dropped_two_bindings(local_dir):
    result = run_cli("demo", "--json")
    assert result.code == 0, result.stderr
    report = result.report
    # The redeploy dropped the invoker binding of the second hop of 3->4 (nba-phase4-precompute-processors) and of
    # phase4-to-phase5-orchestrator. The hop's chain (its push account's access, the backlog of nba-phase4-trigger's
    # message) and its symptoms (phase 4 never started, no predictions) are one incident; the phase-5 orchestrator's
    # binding and push account are another (nothing reached it yet). Beside them: the backup job same-day-phase3 is
    # paused, same-day-phase4's attempt was refused (it calls the broken hop), and yesterday's phase 3 is partial.
    assert sorted((f["monitor"], f["key"].get("service") or f["key"].get("job") or f["key"].get("transition")
                   or f["key"].get("phase"), f["key"]["problem"]) for f in report["findings"]) == [
        ("missing_predictions", None, "none"),
        ("orchestrator_iam", "nba-phase4-precompute-processors", "missing_invoker"),
        ("orchestrator_iam", "phase4-to-phase5-orchestrator", "missing_invoker"),
        ("phase_stalls", "phase_3_analytics", "incomplete"),
        ("phase_stalls", "phase_3_analytics->phase_4_precompute", "stalled"),
        ("push_delivery", "nba-phase4-precompute-processors", "backlog"),
        ("push_delivery", "nba-phase4-precompute-processors", "push_account_cannot_invoke"),
        ("push_delivery", "phase4-to-phase5-orchestrator", "push_account_cannot_invoke"),
        ("scheduler_jobs", "same-day-phase3", "paused"),
        ("scheduler_jobs", "same-day-phase4", "failing"),
    ]
    by_key = {(f["key"].get("service") or f["key"].get("job") or f["key"].get("phase") or f["key"].get("transition"),
               f["key"]["problem"]): f for f in report["findings"]}
    paused = by_key[("same-day-phase3", "paused")]
    assert paused["fix"] == "gcloud scheduler jobs resume same-day-phase3 --location=us-west2 --project=nba-props-platform"
    assert by_key[("same-day-phase4", "failing")]["details"]["status_code"] == 7  # PERMISSION_DENIED
    # The IAM alerts name when and by whom each binding went: the redeploys in the audit log, in league time.
    zone = ZoneInfo("America/New_York")
    for service, minute in (("phase4-to-phase5-orchestrator", 58), ("nba-phase4-precompute-processors", 61)):
        redeploy = datetime.combine(date.fromisoformat(report["now"][:10]), time(0), tzinfo=timezone.utc) + timedelta(minutes=minute)
        league = redeploy.astimezone(zone)
        assert by_key[(service, "missing_invoker")]["details"]["last_change"] == (
            "ReplaceService (a redeploy) by 756957797294@cloudbuild.gserviceaccount.com at "
            f"{league:%Y-%m-%d %H:%M} {league.tzname()} ({redeploy:%H:%M} UTC)"
        )
        assert by_key[(service, "missing_invoker")]["details"]["last_change_entry"].startswith(
            "https://console.cloud.google.com/logs/query;query=insertId%3D%22")
    assert "last change: ReplaceService (a redeploy) by 756957797294@cloudbuild.gserviceaccount.com" in result.stderr
    # The second hop is named, and explains the stall of its transition and the missing predictions.
    hop = by_key[("nba-phase4-precompute-processors", "missing_invoker")]
    assert (hop["details"]["transition"], hop["details"]["hop"]) == ("phase_3_analytics->phase_4_precompute", 2)
    assert hop["summary"].endswith("(second hop of phase_3_analytics->phase_4_precompute: nba-phase4-trigger -> "
                                   "nba-phase4-precompute-processors)")
    explained = {f["key"]["problem"] for f in report["findings"] if f.get("caused_by") == hop["fingerprint"]}
    assert explained == {"push_account_cannot_invoke", "backlog", "stalled", "none"}
    # The partial phase names what succeeded; it was judged at noon today, 36 h after its game date began.
    partial = by_key[("phase_3_analytics", "incomplete")]
    assert partial["details"]["processors_succeeded"] == [
        "TeamOffenseGameSummaryProcessor", "UpcomingPlayerGameContextProcessor", "UpcomingTeamGameContextProcessor"]
    assert partial["key"]["game_date"] == (date.fromisoformat(report["today"]) - timedelta(days=1)).isoformat()
    assert notices(report) == [("first", True)] * 10
    assert len(jsonl(local_dir)) == 10
    # The raw-table checks are on in the demo and judge a healthy raw layer: the outage is downstream of it.
    outcomes = {m["name"]: m["outcome"] for m in report["monitors"]}
    assert (outcomes["freshness"], outcomes["volume"]) == ("ok", "ok")
    # Printed readably, on stderr under --json; the hop's parent opens with what tonight loses and the time left.
    assert ("FIRING [CRITICAL] no predictions for tonight's 5 games; first tip-off 19:00 EST, in 30 min: orchestrator_iam: "
            "nba-phase4-precompute-processors") in result.stderr
    assert ("FIRING [CRITICAL] predictions for tonight's 5 games at risk; first tip-off 19:00 EST, in 30 min: orchestrator_iam: "
            "phase4-to-phase5-orchestrator") in result.stderr
    again = run_cli("run", "--json", "--now", report["now"])
    assert again.code == 0 and again.report["notifications"] == []


def test_json_prints_exactly_one_object_with_the_report_contract(local_dir):
    stalled_day().write_local(local_dir)
    result = run_cli("run", "--json", "--now", T0)
    assert result.code == 0
    assert len(result.stdout.strip().splitlines()) == 1
    report = json.loads(result.stdout)
    assert set(report) >= {"run_id", "now", "today", "dry_run", "monitors", "findings", "notifications"}
    assert (report["now"], report["today"], report["dry_run"]) == ("2026-11-21T23:30:00Z", "2026-11-21", False)
    assert [m["name"] for m in report["monitors"]] == [
        "orchestrator_iam", "push_delivery", "phase_stalls", "missing_predictions", "scheduler_jobs",
    ]
    for monitor in report["monitors"]:
        assert set(monitor) >= {"name", "outcome", "duration_ms", "error"}
    for finding in report["findings"]:
        assert set(finding) >= {"fingerprint", "monitor", "severity", "key", "summary", "details"}
    log_line = json.loads(result.stderr.strip().splitlines()[-1])
    # missing_invoker and push_account_cannot_invoke of the broken service, and the stall
    assert (log_line["severity"], log_line["run_id"], log_line["findings"]) == ("INFO", report["run_id"], 3)


def test_dry_run_lists_what_would_be_sent_and_writes_nothing(local_dir):
    stalled_day().write_local(local_dir)
    result = run_cli("run", "--json", "--dry-run", "--now", T0)
    assert result.code == 0
    assert notices(result.report) == [("first", False)] * 3
    assert jsonl(local_dir) == []
    state = local_dir / "state.sqlite3"
    if state.exists():
        assert sqlite3.connect(state).execute("SELECT COUNT(*) FROM alerts").fetchone() == (0,)
    real = run_cli("run", "--json", "--now", T0)
    assert notices(real.report) == [("first", True)] * 3


def test_a_firing_alert_repeats_on_its_interval_and_resolves_when_fixed(local_dir):
    scenario = broken_iam()
    scenario.write_local(local_dir)
    timeline = []
    for now in ("2026-11-21T20:00:00Z", "2026-11-21T21:00:00Z", "2026-11-21T22:00:00Z", "2026-11-21T22:30:00Z"):
        timeline.append(notices(run_cli("run", "--json", "--monitors", "orchestrator_iam", "--now", now).report))
    scenario.policy("phase4-to-phase5-orchestrator", invoker_policy(PUSH_MEMBER)).write_local(local_dir)
    for now in ("2026-11-21T23:00:00Z", "2026-11-21T23:30:00Z"):
        timeline.append(notices(run_cli("run", "--json", "--monitors", "orchestrator_iam", "--now", now).report))
    assert timeline == [[("first", True)], [], [("repeat", True)], [], [("resolved", True)], []]
    lines = jsonl(local_dir)
    assert [line["reason"] for line in lines] == ["first", "repeat", "resolved"]
    assert lines[1]["thread"] == lines[2]["thread"] is not None  # repeat and resolved reply in the first's thread


def test_a_failed_delivery_exits_1_and_the_next_run_sends_it(local_dir):
    broken_iam().write_local(local_dir)
    (local_dir / "notifications.jsonl").mkdir()  # appending fails
    failed = run_cli("run", "--json", "--monitors", "orchestrator_iam", "--now", T0)
    assert failed.code == 1
    [notice] = failed.report["notifications"]
    assert notice["delivered"] is False and "notifications.jsonl" in notice["error"]
    (local_dir / "notifications.jsonl").rmdir()
    retried = run_cli("run", "--json", "--monitors", "orchestrator_iam", "--now", "2026-11-21T23:35:00Z")
    assert retried.code == 0
    assert notices(retried.report) == [("first", True)]


@pytest.mark.parametrize(
    "args, message",
    [
        (("run", "--monitors", "orchestrator_iam,nope"), "unknown monitor 'nope' (known: orchestrator_iam, push_delivery, phase_stalls, missing_predictions, freshness, volume, scheduler_jobs)"),
        (("run", "--now", "21/11/2026"), "--now: expected an ISO 8601 time with a UTC offset"),
        (("run", "--now", "2026-11-21T23:30"), "--now: give a UTC offset"),
        (("run", "--date", "tomorrow"), "--date: expected a league-local game date YYYY-MM-DD"),
        (("run", "--monitors", ","), "--monitors: give at least one monitor name"),
        (("run", "--bogus"), "unrecognized arguments: --bogus"),
        (("launch",), "invalid choice: 'launch'"),
        (("silence", "--match", "service", "--for", "4h", "--reason", "r"), "--match: expected LABEL=VALUE"),
        (("silence", "--match", "service=phase3-to-phase4-orchestrator", "--for", "forever", "--reason", "r"),
             "--for: expected a duration"),
    ],
)
def test_bad_input_exits_2_with_one_clear_line(local_dir, args, message):
    result = run_cli(*args)
    assert result.code == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "toml, message",
    [
        ("timezone = \n", "not valid TOML"),
        ("", "pipeline: Field required"),
        (production_toml('timezone = "America/New_York"', 'timezone = "Mars/Olympus"'), "timezone: unknown time zone 'Mars/Olympus'"),
        (production_toml('critical = "2h"', 'critical = "soon"'), "alerts.repeat_after.critical: expected a duration such as '30m'"),
        (production_toml("group_after = 5", "group_afterr = 3"), "alerts.group_afterr: unknown key (known: repeat_after, "),
        (production_toml("min_processors = 5              #", "min_processors = 0  #"),
         "pipeline.transitions[phase_2_raw->phase_3_analytics].min_processors: Input should be greater than or equal to 1"),
        (production_toml('min_processors = 5              # "_triggered=True when >= 5 processors complete" (session 205)\n', ""),
         "pipeline.transitions[phase_2_raw->phase_3_analytics]: Value error, give exactly one of min_processors or required_processors"),
        (production_toml('to = "phase_5_predictions"', 'to = "phase_5_prediction"'),
         "pipeline: Value error, transitions[phase_4_precompute->phase_5_prediction].to: unknown phase 'phase_5_prediction' (known: phase_2_raw, phase_3_analytics"),
        (PRODUCTION_TOML + "\n[monitors.stall_detector]\n", "monitors.stall_detector: unknown monitor (known: orchestrator_iam"),
        (production_toml('role = "roles/run.invoker"', 'services = "phase3-to-phase4-orchestrator"'),
         "monitors.orchestrator_iam.services: Input should be a valid list"),
        (production_toml('role = "roles/run.invoker"', 'services = ["phase2-to-phase3-orchestrator"]'),
         "monitors.orchestrator_iam.services[0]: unknown service 'phase2-to-phase3-orchestrator' (known: nba-phase3-analytics-processors"),
    ],
)
def test_a_bad_config_file_names_the_file_the_key_and_what_was_expected(local_dir, tmp_path, monkeypatch, toml, message):
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    monkeypatch.setenv("CANARY_CONFIG", str(config))
    result = run_cli("run")
    assert result.code == 2
    assert result.stderr.startswith(f"error: {config}: ")
    assert message.replace("Value error, ", "") in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_backend_setting_is_bad_input(local_dir, monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "aws")
    result = run_cli("run")
    # Issue 20, Why 10: the setting as the user writes it (it said CANARY.backend)
    assert result.code == 2 and "CANARY_BACKEND: Input should be 'local' or 'gcp'" in result.stderr


def test_a_missing_table_errors_the_warehouse_monitors_only(local_dir):
    broken_iam().write_local(local_dir)
    (local_dir / "warehouse.duckdb").unlink()
    duckdb.connect(str(local_dir / "warehouse.duckdb")).close()  # a warehouse without the tables
    result = run_cli("run", "--json", "--now", T0)
    assert result.code == 0
    report = result.report
    outcomes = {m["name"]: (m["outcome"], m["source"]) for m in report["monitors"]}
    assert outcomes == {"orchestrator_iam": ("firing", None), "push_delivery": ("firing", None),
                        "phase_stalls": ("error", "duckdb"), "missing_predictions": ("error", "duckdb"),
                        "scheduler_jobs": ("ok", None)}
    assert "nba_orchestration.phase_completions" in next(m["error"] for m in report["monitors"] if m["name"] == "phase_stalls")
    degraded = sorted(f["key"]["monitor"] for f in report["findings"] if f["monitor"] == "canary")
    assert degraded == ["missing_predictions", "phase_stalls"]
    assert {f["details"]["source"] for f in report["findings"] if f["monitor"] == "canary"} == {"duckdb"}
    assert any(f["key"]["problem"] == "missing_invoker" for f in report["findings"])


def test_an_unreadable_iam_file_errors_only_the_monitors_that_read_it(local_dir):
    stalled_day().write_local(local_dir)
    (local_dir / "iam_policies.json").write_text("{not json")
    report = run_cli("run", "--json", "--now", T0).report
    outcomes = {m["name"]: m["outcome"] for m in report["monitors"]}
    assert outcomes == {"orchestrator_iam": "error", "push_delivery": "error", "phase_stalls": "firing", "missing_predictions": "no_data",
                        "scheduler_jobs": "ok"}
    assert "is not valid JSON" in report["monitors"][0]["error"]


def test_an_error_neither_resolves_nor_repeats_the_monitors_own_alert(local_dir):
    scenario = stalled_day()
    scenario.write_local(local_dir)
    first = run_cli("run", "--json", "--monitors", "phase_stalls", "--now", "2026-11-21T18:00:00Z").report
    assert notices(first) == [("first", True)]
    (local_dir / "warehouse.duckdb").write_bytes(b"not a database")
    broken = run_cli("run", "--json", "--monitors", "phase_stalls", "--now", "2026-11-21T21:00:00Z").report  # repeat would be due
    assert [(n["reason"], n["fingerprint"]) for n in broken["notifications"]] == [("first", broken["findings"][0]["fingerprint"])]
    assert broken["findings"][0]["monitor"] == "canary"
    scenario.write_local(local_dir)
    healed = run_cli("run", "--json", "--monitors", "phase_stalls", "--now", "2026-11-21T21:30:00Z").report
    reasons = {n["fingerprint"]: n["reason"] for n in healed["notifications"]}
    stall = next(f["fingerprint"] for f in healed["findings"] if f["monitor"] == "phase_stalls")
    canary = broken["findings"][0]["fingerprint"]
    assert reasons == {stall: "repeat", canary: "resolved"}


def test_a_monitor_past_its_timeout_is_an_error_and_the_run_goes_on(local_dir, tmp_path, monkeypatch):
    config = tmp_path / "canary.toml"
    config.write_text(production_toml('monitor_timeout = "60s"', 'monitor_timeout = "0.0001s"'))
    monkeypatch.setenv("CANARY_CONFIG", str(config))
    stalled_day().write_local(local_dir)
    result = run_cli("run", "--json", "--monitors", "phase_stalls", "--now", T0)
    assert result.code == 0
    [monitor] = result.report["monitors"]
    assert (monitor["outcome"], monitor["error"]) == ("error", "timed out after 0.0001s")


def test_an_unselected_monitor_neither_fires_nor_resolves(local_dir):
    stalled_day().write_local(local_dir)
    run_cli("run", "--json", "--now", T0)
    Scenario().write_local(local_dir)  # everything healthy now
    only_iam = run_cli("run", "--json", "--monitors", "orchestrator_iam", "--now", "2026-11-21T23:45:00Z").report
    assert notices(only_iam) == [("resolved", True)]  # the IAM alert; the stall waits for phase_stalls to run
    both = run_cli("run", "--json", "--monitors", "phase_stalls", "--now", "2026-11-22T00:00:00Z").report
    assert notices(both) == [("resolved", True)]


def test_an_operators_check_of_another_date_does_not_resolve_todays_alert(local_dir):
    scenario = Scenario().game(D, "g1", start=local(D, "19:00"))
    scenario.write_local(local_dir)
    assert notices(run_cli("run", "--json", "--monitors", "missing_predictions", "--now", T0).report) == [("first", True)]
    other_day = run_cli("run", "--json", "--monitors", "missing_predictions", "--date", "2026-12-25", "--now", T0).report
    assert other_day["monitors"][0]["outcome"] == "no_data" and other_day["notifications"] == []
    # The scheduled run after midnight: the 21st is no longer today, so its incident closes, saying why.
    next_day = run_cli("run", "--json", "--monitors", "missing_predictions", "--now", "2026-11-22T15:00:00Z").report
    assert notices(next_day) == [("resolved", True)]
    last = jsonl(local_dir)[-1]
    assert last["title"].startswith("No longer checked: No active catboost_v9 predictions for 2026-11-21")
    assert "closed unverified: game date 2026-11-21 is no longer checked by missing_predictions" in last["text"]


def test_silence_mutes_new_notices_and_is_listed(local_dir):
    broken_iam().write_local(local_dir)
    created = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "100d", "--reason", "redeploying")
    assert created.code == 2 and "--for: give a duration from 1m to 30d" in created.stderr
    created = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "30d", "--reason", "redeploying", "--author", "ana")
    assert created.code == 0, created.stderr
    listed = run_cli("silences")
    assert "service=phase4-to-phase5-orchestrator" in listed.stdout and "by ana: redeploying" in listed.stdout
    # Silences are created at the real time: run at it too.
    report = run_cli("run", "--json", "--now", datetime.now(timezone.utc).isoformat()).report
    assert report["notifications"] == []
    assert [f["silenced_by"] is not None for f in report["findings"]] == [True, True]


def test_an_unreadable_alert_state_sends_one_notice_listing_the_findings_and_exits_1(local_dir):
    stalled_day().write_local(local_dir)
    (local_dir / "state.sqlite3").write_bytes(b"this is not a database" * 100)
    blind = run_cli("run", "--json", "--now", T0)
    assert blind.code == 1
    report = blind.report
    assert report["state_error"].startswith("sqlite: ")
    [notice] = report["notifications"]
    assert (notice["reason"], notice["delivered"]) == ("first", True)
    [line] = jsonl(local_dir)
    assert "alert state (sqlite) is unreadable; 3 finding(s) of this run could not be deduplicated" in line["text"]
    assert "phase4-to-phase5-orchestrator" in line["text"] and "phase_3_analytics has not started" in line["text"]
    (local_dir / "state.sqlite3").unlink()
    healed = run_cli("run", "--json", "--now", "2026-11-21T23:35:00Z")
    assert healed.code == 0 and notices(healed.report) == [("first", True)] * 3


def test_a_silence_that_cannot_be_stored_says_so_in_one_line(local_dir):
    local_dir.mkdir(parents=True, exist_ok=True)
    (local_dir / "state.sqlite3").write_bytes(b"this is not a database" * 100)
    result = run_cli("silence", "--match", "service=phase3-to-phase4-orchestrator", "--for", "1h", "--reason", "r")
    assert result.code == 1
    assert result.stderr.startswith("error: alert state: sqlite: ") and len(result.stderr.strip().splitlines()) == 1


def test_silencing_a_cause_says_which_open_incidents_it_mutes_effects_included(local_dir):
    """Issue 20 item 3: a silenced cause mutes its effects' repeats too, and the command says so."""
    broken_iam().write_local(local_dir)
    first = run_cli("run", "--json", "--now", datetime.now(timezone.utc).isoformat()).report
    assert sorted(f["monitor"] for f in first["findings"]) == ["orchestrator_iam", "push_delivery"]
    created = run_cli("silence", "--match", "monitor=orchestrator_iam", "--for", "1d", "--reason", "redeploying")
    assert created.code == 0, created.stderr
    assert "it mutes 1 open incident(s) now, and the repeats of 1 effect(s) in their threads:" in created.stdout
    assert "  effect, in its cause's thread: critical push_delivery " in created.stdout


# --- incidents: `state` no_data from the records (issue 22 item 1) --------------------------------------------


HOP2 = "nba-phase4-precompute-processors"
"""The demo's second hop, whose binding the redeploy dropped with phase4-to-phase5-orchestrator's."""


def _states(listed: list[dict]) -> dict[tuple[str, str, str], tuple[str, str | None]]:
    """(monitor, problem, what it is about) -> (state, no_data_since): the demo has two services of each problem."""
    def about(key: dict[str, str]) -> str:
        return key.get("service") or key.get("job") or key.get("transition") or key.get("phase") or ""

    return {(i["monitor"], i["key"]["problem"], about(i["key"])): (i["state"], i["no_data_since"]) for i in listed}


def test_incidents_say_no_data_for_what_a_later_run_kept_open_only_for_lack_of_data(local_dir):
    """The demo, then the runs an operator makes: two hours on (the push counts have ended), then with the IAM
    policies unreadable (orchestrator_iam and push_delivery error), then with them back."""
    from datetime import timedelta

    from alerts.message import when

    demo = run_cli("demo", "--history-days", "0", "--json")
    assert demo.code == 0, demo.stderr
    evening = datetime.fromisoformat(demo.report["now"])

    def run_at(hours: float) -> str:
        at = (evening + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert run_cli("run", "--now", at, "--json").code == 0
        return at

    def listed() -> dict[tuple[str, str, str], tuple[str, str | None]]:
        return _states(json.loads(run_cli("incidents", "--json").stdout)["incidents"])

    assert {state for state, _ in listed().values()} == {"firing"}
    blind = run_at(2)
    no_data = {key: since for key, (state, since) in listed().items() if state == "no_data"}
    assert no_data == {("push_delivery", "backlog", HOP2): blind}  # the push metrics end; the IAM reads do not
    lines = run_cli("incidents").stdout.splitlines()
    [head] = [n for n, line in enumerate(lines) if "problem=backlog" in line]
    assert lines[head].endswith("[no_data]")
    shown = when(evening + timedelta(hours=2), ZoneInfo("America/New_York"))
    assert lines[head + 3].strip() == f"no data since {shown}: its monitor had no data for it or could not judge it"

    policies = local_dir / "iam_policies.json"
    saved = policies.read_text()
    policies.unlink()
    unreadable = run_at(2.5)
    states = listed()
    for service in (HOP2, "phase4-to-phase5-orchestrator"):  # its monitor could not judge it
        assert states[("orchestrator_iam", "missing_invoker", service)] == ("no_data", unreadable)
    assert states[("push_delivery", "backlog", HOP2)] == ("no_data", blind)  # since the first run without data
    assert states[("phase_stalls", "stalled", "phase_3_analytics->phase_4_precompute")] == ("firing", None)

    policies.write_text(saved)
    run_at(3)
    states = listed()
    for service in (HOP2, "phase4-to-phase5-orchestrator"):
        assert states[("orchestrator_iam", "missing_invoker", service)] == ("firing", None)  # seen again: cleared
        assert states[("push_delivery", "push_account_cannot_invoke", service)] == ("firing", None)
    assert states[("push_delivery", "backlog", HOP2)] == ("no_data", blind)
