"""scheduler_jobs judged on Job JSON as Cloud Scheduler answers it (pure), and its configuration."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pydantic import ValidationError

from core.config import Pipeline
from core.model import Severity
from monitors.base import CheckContext
from monitors.scheduler_jobs import Config, judge, watched_jobs
from tests.production import PIPELINE

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
ZONE = ZoneInfo("America/New_York")


def ctx(pipeline: Pipeline = PIPELINE) -> CheckContext:
    return CheckContext(now=NOW, today=date(2026, 11, 21), zone=ZONE, pipeline=pipeline)


def job(name: str, **fields: Any) -> dict[str, Any]:
    """A job that ran at 23:00 and is next due at 23:30 (every 30 minutes), succeeded."""
    base = {
        "name": f"projects/{PIPELINE.project}/locations/{PIPELINE.region}/jobs/{name}", "state": "ENABLED",
        "schedule": "*/30 * * * *", "timeZone": "Etc/UTC", "status": {},
        "lastAttemptTime": "2026-11-21T23:00:00Z", "scheduleTime": "2026-11-21T23:30:00Z",
    }
    return {**base, **fields}


ALL = ["pipeline-canary", "same-day-phase3", "same-day-phase4", "same-day-predictions", "same-day-phase3-tomorrow"]
CONFIG = Config(jobs=["same-day-phase3-tomorrow"])


def problems(jobs: list[dict[str, Any]], config: Config = CONFIG) -> set[tuple[str, str, Severity]]:
    return {(f.key["job"], f.key["problem"], f.severity) for f in judge(config, jobs, ctx()).findings}


def test_every_job_canary_toml_names_is_watched_the_fixes_jobs_critical_the_extra_ones_warning():
    watched = {w.job: w.severity for w in watched_jobs(CONFIG, PIPELINE)}
    assert watched == {
        "pipeline-canary": Severity.CRITICAL, "same-day-phase3": Severity.CRITICAL, "same-day-phase4": Severity.CRITICAL,
        "same-day-predictions": Severity.CRITICAL, "same-day-phase3-tomorrow": Severity.WARNING,
    }
    # An extra job that a fix also runs stays critical.
    assert {w.job: w.severity for w in watched_jobs(Config(jobs=["same-day-phase4"]), PIPELINE)}["same-day-phase4"] is Severity.CRITICAL


def test_enabled_jobs_that_succeeded_on_time_are_quiet_and_judged():
    result = judge(CONFIG, [job(n) for n in ALL], ctx())
    assert result.findings == [] and sorted(result.judged.targets) == sorted(ALL)


def test_an_empty_status_is_a_success_and_a_non_zero_code_a_failure():
    # proto3 JSON leaves out code 0: {} (or no status at all: never attempted) is not a failure.
    quiet = [job(n) for n in ALL[:-1]] + [job(ALL[-1], status={"message": ""})]
    assert problems(quiet) == set()
    failing = [job(n) for n in ALL[:-1]] + [job(ALL[-1], status={"code": 7, "message": "PERMISSION_DENIED"})]
    [finding] = judge(CONFIG, failing, ctx()).findings
    assert (finding.key, finding.severity) == ({"job": ALL[-1], "problem": "failing"}, Severity.WARNING)
    assert finding.details["status_code"] == 7 and finding.since == datetime(2026, 11, 21, 23, 0, tzinfo=timezone.utc)
    assert 'resource.labels.job_id="same-day-phase3-tomorrow"' in (finding.fix or "")


@pytest.mark.parametrize("state", ["PAUSED", "DISABLED", "UPDATE_FAILED", "STATE_UNSPECIFIED"])
def test_a_job_that_is_not_enabled_is_paused(state):
    jobs = [job(n, state=state) if n == "same-day-phase4" else job(n) for n in ALL]
    [finding] = judge(CONFIG, jobs, ctx()).findings
    assert (finding.key, finding.severity) == ({"job": "same-day-phase4", "problem": "paused"}, Severity.CRITICAL)
    expected_verb = "resume" if state == "PAUSED" else "describe"
    assert finding.fix == f"gcloud scheduler jobs {expected_verb} same-day-phase4 --location=us-west2 --project=nba-props-platform"


def test_a_job_missing_from_the_listing_is_not_found():
    found = problems([job(n) for n in ALL if n != "pipeline-canary"])
    assert found == {("pipeline-canary", "not_found", Severity.CRITICAL)}


def test_late_only_past_the_grace_with_no_attempt_since_the_scheduled_time():
    def late(schedule_time: str, last_attempt: str | None) -> bool:
        changed = job("same-day-phase4", scheduleTime=schedule_time, lastAttemptTime=last_attempt)
        if last_attempt is None:
            del changed["lastAttemptTime"]
        jobs = [changed if n == "same-day-phase4" else job(n) for n in ALL]
        return ("same-day-phase4", "late", Severity.CRITICAL) in problems(jobs)

    assert not late("2026-11-21T23:00:00Z", "2026-11-21T22:30:00Z")  # due 30 min ago: within the grace (30m)
    assert late("2026-11-21T22:59:00Z", "2026-11-21T22:30:00Z")      # 31 min past due, nothing since
    assert not late("2026-11-21T22:00:00Z", "2026-11-21T22:00:00Z")  # it started at its time (still running)
    assert late("2026-11-21T22:00:00Z", None)                        # never attempted
    assert not late("2026-11-22T15:30:00Z", "2026-11-21T15:30:00Z")  # next due tomorrow


def test_no_job_configured_is_no_data():
    pipeline = Pipeline.model_validate({
        **PIPELINE.model_dump(by_alias=True, exclude={"rerun_job"}),
        "transitions": [{**t.model_dump(by_alias=True), "backup_job": None} for t in PIPELINE.transitions],
    })
    result = judge(Config(canary_job=""), [], ctx(pipeline))
    assert result.no_data and "no scheduler job configured" in (result.no_data_reason or "")


@pytest.mark.parametrize("bad", ["", "has space", "projects/p/locations/l/jobs/x", "a" * 501, "naïve", "semi;colon"])
def test_a_job_name_that_is_not_a_cloud_scheduler_job_id_is_refused(bad):
    with pytest.raises(ValidationError, match=r"jobs\[0\]: .* is not a Cloud Scheduler job id"):
        Config.model_validate({"jobs": [bad]})
    with pytest.raises(ValidationError, match="is not a Cloud Scheduler job id"):
        Config.model_validate({"canary_job": bad or " "})


def test_the_longest_job_id_is_accepted():
    assert Config.model_validate({"jobs": ["a-_" * 166 + "ab"]}).jobs == ["a-_" * 166 + "ab"]


def test_a_replay_of_the_demo_season_names_scheduler_jobs_not_replayed_and_its_healthy_days_stay_quiet(local_dir):
    """Job state is read as it is now: a replay cannot judge it, and says so. What the replay does judge (the
    fixes built from backup_job / rerun_job) notifies only on the demo's broken day."""
    from tests.conftest import run_cli

    demo = run_cli("demo", "--history-days", "3", "--json")
    assert demo.code == 0, demo.stderr
    today = date.fromisoformat(demo.report["today"])
    result = run_cli("replay", "--from", str(today - timedelta(days=3)), "--to", str(today), "--json")
    assert result.code == 0, result.stderr
    report = result.report
    why = {n["monitor"]: n["why"] for n in report["not_replayed"]}
    assert why["scheduler_jobs"].startswith("reads Cloud Scheduler's jobs as they are now")
    assert "scheduler_jobs" not in report["replayed"]
    notices = report["notices"]
    assert notices, "the broken day notifies"
    broken_day_starts = datetime.combine(today, datetime.min.time(), tzinfo=ZONE)
    assert all(datetime.fromisoformat(n["at"].replace("Z", "+00:00")) >= broken_day_starts for n in notices), notices
