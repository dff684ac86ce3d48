"""The embedded Cloud Scheduler source: scheduler_jobs.json in the local folder, a JSON list of Job
objects as `gcloud scheduler jobs list --location=L --format=json` prints it (each with its full
`name`, projects/P/locations/L/jobs/ID). A missing file is a SourceError, never "no jobs"."""

from __future__ import annotations

from pathlib import Path

from sources.errors import SourceError
from sources.iam_file import read_json_file
from sources.scheduler import Job, job_name

SOURCE = "scheduler_file"
FILE = "scheduler_jobs.json"


class SchedulerJobsFile:
    source = SOURCE

    def __init__(self, *, folder: Path) -> None:
        self.path = folder / FILE

    def list_jobs(self, *, project: str, location: str) -> list[Job]:
        data = read_json_file(self.path, source=SOURCE)
        if not isinstance(data, list) or not all(isinstance(job, dict) for job in data):
            raise SourceError(SOURCE, f"{self.path} must hold a JSON list of jobs (gcloud scheduler jobs list --format=json)")
        prefix = job_name(project=project, location=location, job="")
        return [job for job in data if str(job.get("name", "")).startswith(prefix)]

    def get_job(self, *, project: str, location: str, job: str) -> Job | None:
        wanted = job_name(project=project, location=location, job=job)
        return next((j for j in self.list_jobs(project=project, location=location) if j.get("name") == wanted), None)
