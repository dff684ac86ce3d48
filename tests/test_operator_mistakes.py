"""An operator's mistakes are caught, not obeyed (issue 12): configuration checked against itself,
silences that can only match what exists, replays that cannot rewrite the past, dry runs that write
nothing and show what they would send, a missing data folder, a demo that says what it removes."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from alerts.silences import SilenceError, parse_matchers
from core.config import Settings
from demo.pipeline import build_demo, demo_now
from monitors.registry import MONITORS
from run.runner import degraded_finding
from core.model import MonitorResult, Outcome
from tests.conftest import PROJECT_ROOT, run_cli
from tests.production import CONFIG, PUSH_MEMBER, SERVICES, production_toml
from tests.scenario import Scenario, local

D = date(2026, 11, 21)
T0 = "2026-11-21T23:30:00Z"


def stalled_day() -> Scenario:
    return Scenario().policy("phase4-to-phase5-orchestrator", {"bindings": []}).phase_complete(
        D, "phase_2_raw", local(D, "07:00")
    )


def files_in(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in folder.iterdir()} if folder.exists() else {}


# --- configuration checked against itself; check-config --------------------------------------------


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "candidate.toml"
    path.write_text(text)
    return path


def test_check_config_accepts_the_production_file_and_runs_nothing(local_dir):
    result = run_cli("check-config")
    assert result.code == 0, result.stderr
    assert ".toml: valid (" in result.stdout and "4 transitions" in result.stdout
    assert not local_dir.exists()  # nothing ran, nothing was written


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('to = "phase_5_predictions"', 'to = "phase_5_prediction"',
         "transitions[phase_4_precompute->phase_5_prediction].to: unknown phase 'phase_5_prediction' (known: phase_2_raw,"),
        ('role = "roles/run.invoker"', "services = []", "monitors.orchestrator_iam.services: empty, so nothing would be checked"),
        ('role = "roles/run.invoker"', 'services = ["phase4-to-phase5-orchestratr"]',
         "monitors.orchestrator_iam.services[0]: unknown service 'phase4-to-phase5-orchestratr' (known: "),
        # A mistyped push account would report every service as not invokable: a false critical on each.
        ('member = "serviceAccount:756957797294-compute@developer.gserviceaccount.com"',
         'member = "756957797294-compute@developer.gserviceaccount.com"',
         "monitors.orchestrator_iam.member: expected serviceAccount:EMAIL"),
        ('member = "serviceAccount:756957797294-compute@developer.gserviceaccount.com"',
         'member = "serviceAccount:756957797294-compute@developer.gserviceacount.com"',
         "monitors.orchestrator_iam.member: not a service account email"),
        ('push_account = "756957797294-compute@developer.gserviceaccount.com"',
         'push_account = "756957797294-compute@developer.gserviceaccount"',
         "monitors.push_delivery.push_account: not a service account email"),
        ("[monitors.push_delivery]", "[monitors.push_delivery]\nservices = []",
         "monitors.push_delivery.services: empty, so nothing would be checked"),
        # A job name Cloud Scheduler cannot have: its fix would never run, its checks never find it.
        ('backup_job = "same-day-phase4"', 'backup_job = "same day phase4"',
         "pipeline.transitions[phase_3_analytics->phase_4_precompute].backup_job: 'same day phase4' is not a Cloud Scheduler job id"),
        ('rerun_job = "same-day-predictions"', 'rerun_job = "projects/nba-props-platform/locations/us-west2/jobs/x"',
         "pipeline.rerun_job: 'projects/nba-props-platform/locations/us-west2/jobs/x' is not a Cloud Scheduler job id"),
        ('jobs = ["same-day-phase3-tomorrow"]', 'jobs = ["same-day-phase3-tomorrow", "same_day.phase3"]',
         "monitors.scheduler_jobs.jobs: jobs[1]: 'same_day.phase3' is not a Cloud Scheduler job id"),
        ('canary_job = "pipeline-canary"', 'canary_job = "pipeline canary"',
         "monitors.scheduler_jobs.canary_job: 'pipeline canary' is not a Cloud Scheduler job id"),
        # A hand-written command that runs a job cannot be confirmed: the job is named, the command built.
        ('backup_job = "same-day-phase4"', 'next_step = "gcloud scheduler jobs run same-day-phase4 --location=us-west2"',
         "pipeline.transitions[phase_3_analytics->phase_4_precompute].next_step: runs a Cloud Scheduler job: name the job in `backup_job` instead"),
        ('backup_job = "same-day-phase4"', 'backup_job = "same-day-phase4"\nnext_step = "echo start it"',
         "pipeline.transitions[phase_3_analytics->phase_4_precompute]: give one of backup_job or next_step"),
        ("[monitors.scheduler_jobs]", 'rerun_command = "gcloud scheduler jobs run other --location=us-west2"\n[monitors.scheduler_jobs]',
         "monitors.missing_predictions.rerun_command: runs a Cloud Scheduler job: name the job in `[pipeline] rerun_job` instead"),
        ("[monitors.scheduler_jobs]", 'rerun_command = "bq query x"\n[monitors.scheduler_jobs]',
         "monitors.missing_predictions.rerun_command: [pipeline] rerun_job is set and the fix runs it"),
    ],
)
def test_check_config_refuses_a_file_that_would_check_the_wrong_thing(tmp_path, old, new, message):
    path = write_config(tmp_path, production_toml(old, new))
    result = run_cli("check-config", str(path))
    assert result.code == 2
    assert result.stderr.startswith(f"error: {path}: ") and message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_an_empty_list_is_allowed_when_its_monitor_is_disabled(tmp_path):
    text = production_toml('role = "roles/run.invoker"', "services = []\nenabled = false")
    result = run_cli("check-config", str(write_config(tmp_path, text)))
    assert result.code == 0, result.stderr
    assert "monitors enabled: push_delivery, phase_stalls, missing_predictions, scheduler_jobs" in result.stdout
    text = production_toml("[monitors.push_delivery]", "[monitors.push_delivery]\nservices = []\nenabled = false")
    result = run_cli("check-config", str(write_config(tmp_path, text)))
    assert result.code == 0, result.stderr
    assert "monitors enabled: orchestrator_iam, phase_stalls, missing_predictions" in result.stdout


def test_check_config_of_a_missing_file_is_exit_2(tmp_path):
    result = run_cli("check-config", str(tmp_path / "nope.toml"))
    assert result.code == 2 and "configuration file not found" in result.stderr


def test_check_config_is_listed_by_help():
    out = subprocess.run([sys.executable, "main.py", "--help"], cwd=PROJECT_ROOT, capture_output=True, text=True)
    for command in ("check-config", "unsilence", "silences"):
        assert command in out.stdout


# --- silences: only labels a finding can carry -------------------------------------------------------


def test_every_finding_key_uses_only_its_monitors_declared_labels(local_dir):
    """The labels a silence may name come from each monitor's key_labels: hold the monitors to them."""
    from run.runner import CANARY_KEY_LABELS
    from run.steps import key_labels_by_monitor

    result = run_cli("demo", "--json")
    findings = result.report["findings"]
    assert {f["monitor"] for f in findings} == {"orchestrator_iam", "push_delivery", "phase_stalls", "missing_predictions", "scheduler_jobs"}
    for finding in findings:
        assert set(finding["key"]) <= MONITORS[finding["monitor"]].key_labels, finding["key"]
    degraded = degraded_finding(MonitorResult(name="phase_stalls", outcome=Outcome.ERROR, duration_ms=1, source="duckdb"))
    assert set(degraded.key) <= CANARY_KEY_LABELS
    assert key_labels_by_monitor()["phase_stalls"] == frozenset({"transition", "phase", "processor", "game_date", "problem"})


@pytest.mark.parametrize(
    "matches, message",
    [
        (["servce=phase4-to-phase5-orchestrator"], "unknown label 'servce' (known: check, game_date, job, monitor, phase, problem, processor, record, service, setting, severity, system_id"),
        (["monitor=phase_stalls,game_date=2026-11-21"], "one label per --match; repeat --match for more"),
        (["monitor=phase_stall"], "--match monitor=phase_stall: unknown monitor (known: orchestrator_iam"),
        (["severity=page"], "--match severity=page: unknown severity (known: critical, warning, info)"),
        (["monitor=phase_stalls", "service=x"], "phase_stalls findings carry no service"),
        (["service=x", "transition=y"], "no monitor's findings carry all of service, transition"),
        (["service=a", "service=b"], "service given twice"),
    ],
)
def test_a_silence_that_could_match_nothing_is_refused(local_dir, matches, message):
    args = [part for match in matches for part in ("--match", match)]
    result = run_cli("silence", *args, "--for", "1h", "--reason", "r")
    assert result.code == 2, result.stdout
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert not (local_dir / "state.sqlite3").exists()


def test_parse_matchers_without_the_monitors_labels_only_checks_the_form():
    assert parse_matchers(["a=b", "c=d"]) == {"a": "b", "c": "d"}
    with pytest.raises(SilenceError):
        parse_matchers(["a"])


def test_a_silence_says_where_it_went_and_which_open_incidents_it_mutes(local_dir):
    demo = run_cli("demo", "--json")
    assert demo.code == 0
    created = run_cli("silence", "--match", "severity=critical", "--match", "monitor=phase_stalls", "--for", "1h",
                      "--reason", "iam fix under way")
    assert created.code == 0, created.stderr
    assert f"created in sqlite {local_dir / 'state.sqlite3'}" in created.stdout
    assert "it mutes 2 open incident(s) now:" in created.stdout  # the 3->4 stall and yesterday's partial phase 3
    assert "critical phase_stalls game_date=" in created.stdout and "orchestrator_iam" not in created.stdout
    nothing = run_cli("silence", "--match", "severity=info", "--for", "1h", "--reason", "r")
    assert "it matches no open incident now" in nothing.stdout


def test_a_severity_silence_mutes_that_severity_only(local_dir):
    stalled_day().write_local(local_dir)
    assert run_cli("silence", "--match", "severity=critical", "--match", "monitor=phase_stalls", "--for", "1h",
                   "--reason", "r").code == 0
    report = run_cli("run", "--json", "--dry-run", "--now", datetime.now(timezone.utc).isoformat()).report
    # A run today finds no stall on 2026-11-21 (outside the window): the IAM finding is critical but not phase_stalls.
    # (The broken binding also fails its push account's access: two critical findings, neither phase_stalls.)
    assert [f["silenced_by"] for f in report["findings"]] == [None, None]
    assert run_cli("silence", "--match", "severity=critical", "--for", "1h", "--reason", "r").code == 0
    later = run_cli("run", "--json", "--now", datetime.now(timezone.utc).isoformat()).report
    assert [f["silenced_by"] is not None for f in later["findings"]] == [True, True]


def test_unsilence_ends_a_silence_early_and_keeps_it_on_record(local_dir):
    stalled_day().write_local(local_dir)
    created = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "4h", "--reason", "redeploy")
    silence_id = created.stdout.split()[1]
    [listed] = json.loads(run_cli("silences", "--json").stdout)
    assert set(listed) == {"id", "matchers", "author", "reason", "created_at", "expires_at"}
    assert (listed["id"], listed["matchers"], listed["reason"]) == (silence_id, {"service": "phase4-to-phase5-orchestrator"}, "redeploy")

    ended = run_cli("unsilence", silence_id, "--author", "ana")
    assert ended.code == 0 and f"silence {silence_id} ended at" in ended.stdout and "by ana" in ended.stdout
    assert json.loads(run_cli("silences", "--json").stdout) == []
    from alerts.sqlite_state import SqliteStateStore

    [kept] = SqliteStateStore(path=local_dir / "state.sqlite3").silences(now=datetime.now(timezone.utc), include_expired=True)
    assert (kept.id, kept.ended_by) == (silence_id, "ana")
    report = run_cli("run", "--json", "--now", datetime.now(timezone.utc).isoformat()).report
    assert {f["silenced_by"] for f in report["findings"]} == {None}  # the IAM alerts are no longer muted

    again = run_cli("unsilence", silence_id)
    assert again.code == 0 and "had already ended" in again.stdout
    unknown = run_cli("unsilence", "nosuchid")
    assert unknown.code == 2 and "no silence 'nosuchid'" in unknown.stderr


# --- replays cannot rewrite the past ---------------------------------------------------------------


def test_a_run_before_the_latest_notice_is_refused_unless_dry(local_dir):
    stalled_day().write_local(local_dir)
    assert run_cli("run", "--json", "--now", T0).code == 0
    before = files_in(local_dir)
    earlier = run_cli("run", "--json", "--now", "2026-11-21T20:00:00Z")
    assert earlier.code == 2
    assert "is before the latest notice on record (2026-11-21T23:30:00Z" in earlier.stderr and "--dry-run" in earlier.stderr
    assert files_in(local_dir) == before
    dry = run_cli("run", "--json", "--dry-run", "--now", "2026-11-21T20:00:00Z")
    assert dry.code == 0 and files_in(local_dir) == before
    assert run_cli("run", "--json", "--now", T0).code == 0  # the same moment again is fine: nothing new


def test_an_http_run_before_the_latest_notice_is_refused_unless_dry(local_dir, monkeypatch):
    import functions_framework

    monkeypatch.setitem(sys.modules, "main", sys.modules["main"])  # create_app reloads main.py
    stalled_day().write_local(local_dir)
    client = functions_framework.create_app(target="run_canary", source=str(PROJECT_ROOT / "main.py")).test_client()
    assert client.post("/", json={"now": T0}).status_code == 200
    earlier = client.post("/", json={"now": "2026-11-21T20:00:00Z"})
    assert earlier.status_code == 400
    assert "now 2026-11-21T20:00:00Z is before the latest notice on record" in earlier.get_json()["error"]
    assert client.post("/", json={"now": "2026-11-21T20:00:00Z", "dry_run": True}).status_code == 200


def test_now_on_the_gcp_backend_needs_dry_run(local_dir, monkeypatch):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    result = run_cli("run", "--now", T0)
    assert result.code == 2 and "--now on the gcp backend needs --dry-run" in result.stderr


def test_the_readme_replays_no_fixed_date_and_its_replay_commands_work(local_dir):
    readme = (PROJECT_ROOT / "README.md").read_text()
    assert "--now 2026-" not in readme
    start = readme.index("    NOW=$(")
    block = readme[start : readme.index("only as a dry run", start)].splitlines()
    script = "\n".join(line.removeprefix("    ") for line in block).replace(".venv/bin/python", sys.executable)
    out = subprocess.run(["bash", "-ec", script], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    summaries = [line for line in out.stdout.splitlines() if line.startswith("findings:")]
    # The demo's ten findings are five incidents (the second hop's binding with its four effects, the phase-5
    # orchestrator's with one, the paused and the refused backup jobs, yesterday's partial phase 3): two hours later
    # each repeats once, a cause naming its effects (the demo's push metrics end at its own time: later, no traffic
    # is seen, so the hop's backlog is no longer judged), and the canary's own job is newly late (nothing ran the
    # canary in those two hours): 6 sent. Back at the demo's time that job was not late: its resolution would be sent.
    assert summaries == ["findings: 10; notifications: 0 sent", "findings: 10; notifications: 6 sent",
                         "findings: 10; notifications: 0 sent, 1 would be sent"]


# --- dry runs write nothing and show what they would send ---------------------------------------------


def test_a_dry_run_creates_no_file_and_shows_each_notice_rendered(local_dir):
    stalled_day().write_local(local_dir)
    before = files_in(local_dir)
    result = run_cli("run", "--dry-run", "--now", T0)
    assert result.code == 0
    assert files_in(local_dir) == before  # no state.sqlite3, no notifications.jsonl
    assert result.stdout.count("[dry run: not sent]") == 3  # the binding, its push account, the stall
    assert "FIRING [CRITICAL] orchestrator_iam: phase4-to-phase5-orchestrator" in result.stdout
    assert "  fix: gcloud run services add-iam-policy-binding phase4-to-phase5-orchestrator" in result.stdout


def test_a_dry_runs_json_notifications_say_what_each_is_about(local_dir):
    stalled_day().write_local(local_dir)
    result = run_cli("run", "--json", "--dry-run", "--now", T0)
    notes = {n["monitor"]: n for n in result.report["notifications"]}
    assert set(notes) == {"orchestrator_iam", "push_delivery", "phase_stalls"}
    iam = notes["orchestrator_iam"]
    assert iam["key"] == {"service": "phase4-to-phase5-orchestrator", "problem": "missing_invoker"}
    assert iam["reason"] == "first" and iam["delivered"] is False and "cannot invoke it" in iam["summary"]
    assert "text" not in iam
    assert "[dry run: not sent]" in result.stderr  # the previews go beside the notices' usual place


# --- a missing local folder --------------------------------------------------------------------------


@pytest.mark.parametrize("make_empty_folder", [False, True])
def test_no_local_data_is_bad_input_not_three_degraded_notices(local_dir, make_empty_folder):
    if make_empty_folder:
        local_dir.mkdir(parents=True)
    result = run_cli("run")
    assert result.code == 2
    assert "run `main.py demo` first, or set CANARY_LOCAL_DIR" in result.stderr
    assert files_in(local_dir) == {}


def test_the_local_folder_is_beside_main_py_from_any_working_directory(monkeypatch, tmp_path):
    monkeypatch.delenv("CANARY_LOCAL_DIR")
    monkeypatch.chdir(tmp_path)
    assert Settings().local_dir == PROJECT_ROOT / ".canary"
    monkeypatch.chdir(PROJECT_ROOT / "tests")
    assert Settings().local_dir == PROJECT_ROOT / ".canary"


# --- the demo says what it removes and shows progress ------------------------------------------------


def test_the_demo_says_what_it_removes(local_dir):
    assert run_cli("demo").code == 0
    assert run_cli("silence", "--match", "severity=critical", "--for", "1h", "--reason", "r").code == 0
    again = run_cli("demo", "--no-run")
    assert again.code == 0
    assert "demo: removing the previous local run" in again.stdout
    assert "state.sqlite3 (alert records and silences)" in again.stdout and "notifications.jsonl (notices sent)" in again.stdout
    first_time = run_cli("demo", "--no-run")
    assert "state.sqlite3" not in first_time.stdout.split("demo pipeline written")[0]


def test_the_demo_reports_progress_on_a_long_history():
    from entry.cli import demo_progress

    now = demo_now(datetime(2026, 11, 21, 12, tzinfo=timezone.utc), CONFIG.zone)
    pipeline = build_demo(now=now, zone=CONFIG.zone, services=list(SERVICES), push_member=PUSH_MEMBER, history_days=60,
                          project=CONFIG.pipeline.project, region=CONFIG.pipeline.region)
    out = io.StringIO()
    progress = demo_progress(out=out)
    total = len(pipeline.rows["nba_predictions.player_prop_predictions"])
    assert total > 10_000
    for done in range(5000, total, 5000):
        progress("nba_predictions.player_prop_predictions", done, total)
    progress("nba_predictions.player_prop_predictions", total, total)
    lines = out.getvalue().splitlines()
    assert lines[0] == "demo: writing nba_predictions.player_prop_predictions: 10,000/" + f"{total:,} rows"
    assert lines[-1].endswith(f"{total:,}/{total:,} rows")


# --- issue 20, Why 10: silence values are checked against [pipeline]; times in league time with UTC beside -------


@pytest.mark.parametrize("match, expected", [
    ("service=phase4-to-phase5-orchestrater", "did you mean phase4-to-phase5-orchestrator?"),
    ("service=nothing-like-it", "not a service of [pipeline] (known: nba-phase3-analytics-processors, "),
    ("transition=phase_4_precompute->phase_5_prediction", "did you mean phase_4_precompute->phase_5_predictions?"),
])
def test_a_misspelt_silence_value_is_refused_with_the_closest_names(local_dir, match, expected):
    result = run_cli("silence", "--match", match, "--for", "1h", "--reason", "r")
    assert result.code == 2 and expected in result.stderr, result.stderr
    assert run_cli("silences").stdout.startswith("no active silences")


def test_silence_listings_show_league_time_with_utc_beside_it(local_dir):
    made = run_cli("silence", "--match", "service=phase4-to-phase5-orchestrator", "--for", "4h", "--reason", "redeploying")
    assert made.code == 0, made.stderr
    listed = run_cli("silences").stdout
    for text in (made.stdout, listed):
        assert re.search(r"until \d{4}-\d\d-\d\d \d\d:\d\d E[SD]T \(\d\d:\d\d UTC\)", text), text
