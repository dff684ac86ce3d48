"""google-cloud-scheduler's REST client against the Cloud Scheduler stand-in, and the local file: the same jobs."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest

from core.config import Settings
from demo.pipeline import scheduler_jobs
from sources.errors import SourceError
from sources.gcp_scheduler import GcpSchedulerJobs
from sources.scheduler_files import SchedulerJobsFile
from tests.servers.fake_scheduler import FakeScheduler, fake_scheduler  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
P, L = "nba-props-platform", "us-west2"
NAMES = ["pipeline-canary", "same-day-phase3", "same-day-phase4", "same-day-predictions", "same-day-phase3-tomorrow"]


def jobs() -> list[dict]:
    listed = scheduler_jobs(P, L, NAMES, now=NOW, paused={"same-day-phase3"})
    listed[2]["status"] = {"code": 13, "message": "HTTP 500"}
    listed[3]["state"] = "UPDATE_FAILED"
    return listed


def test_the_client_follows_every_page_and_reads_what_the_file_holds(fake_scheduler: FakeScheduler, tmp_path):
    fake_scheduler.page_size_cap = 2  # 5 jobs: three pages
    other = scheduler_jobs(P, "us-east1", ["elsewhere"], now=NOW)
    fake_scheduler.set_jobs(jobs() + other)
    read = GcpSchedulerJobs(endpoint=fake_scheduler.endpoint, timeout_seconds=5).list_jobs(project=P, location=L)
    assert read == jobs()  # enums sent as numbers come back as names; `{}` stays a success; other locations left out
    assert len(fake_scheduler.requests) == 3 and "pageToken=offset-4" in fake_scheduler.requests[-1]
    (tmp_path / "scheduler_jobs.json").write_text(json.dumps(jobs() + other))
    assert SchedulerJobsFile(folder=tmp_path).list_jobs(project=P, location=L) == read


def test_get_answers_a_job_or_none_for_not_found(fake_scheduler: FakeScheduler):
    fake_scheduler.set_jobs(jobs())
    client = GcpSchedulerJobs(endpoint=fake_scheduler.endpoint, timeout_seconds=5)
    assert client.get_job(project=P, location=L, job="same-day-phase3") == jobs()[1]
    assert client.get_job(project=P, location=L, job="same-day-nothing") is None


def test_an_empty_location_is_an_empty_list_and_a_server_error_a_source_error(fake_scheduler: FakeScheduler):
    client = GcpSchedulerJobs(endpoint=fake_scheduler.endpoint, timeout_seconds=5)
    assert client.list_jobs(project=P, location=L) == []
    fake_scheduler.fault = "server_error"
    with pytest.raises(SourceError, match=r"^cloud_scheduler: projects/nba-props-platform/locations/us-west2: 500 "):
        client.list_jobs(project=P, location=L)


def test_a_missing_or_malformed_file_is_a_source_error(tmp_path):
    with pytest.raises(SourceError, match="scheduler_jobs.json does not exist"):
        SchedulerJobsFile(folder=tmp_path).list_jobs(project=P, location=L)
    (tmp_path / "scheduler_jobs.json").write_text('{"jobs": []}')
    with pytest.raises(SourceError, match="must hold a JSON list of jobs"):
        SchedulerJobsFile(folder=tmp_path).list_jobs(project=P, location=L)


@pytest.mark.parametrize("variable", ["CANARY_SCHEDULER_ENDPOINT", "CANARY_LOGGING_ENDPOINT"])
def test_the_stand_in_endpoints_are_refused_on_the_gcp_backend_unless_tests_allow_them(monkeypatch, variable):
    monkeypatch.setenv("CANARY_BACKEND", "gcp")
    monkeypatch.setenv(variable, "http://127.0.0.1:9")
    with pytest.raises(ValueError, match=variable):
        Settings()
    monkeypatch.setenv("CANARY_ALLOW_TEST_ENDPOINTS", "1")
    assert Settings().model_dump()[variable.removeprefix("CANARY_").lower()] == "http://127.0.0.1:9"
