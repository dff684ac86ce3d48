"""The Cloud Scheduler port: the jobs of one project and location, as Cloud Scheduler v1 Job JSON.

The shape is the REST one (camelCase, enums by name, RFC 3339 times), which is also what
`gcloud scheduler jobs list --format=json` prints, so the local file and the API read the same
(https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs#Job).
"""

from __future__ import annotations

from typing import Any, Protocol

Job = dict[str, Any]


def job_name(*, project: str, location: str, job: str) -> str:
    """The job's resource name: projects/PROJECT_ID/locations/LOCATION_ID/jobs/JOB_ID."""
    return f"projects/{project}/locations/{location}/jobs/{job}"


class SchedulerJobs(Protocol):
    source: str

    def list_jobs(self, *, project: str, location: str) -> list[Job]:
        """Every job of the location (all pages); an empty list when it has none."""
        ...

    def get_job(self, *, project: str, location: str, job: str) -> Job | None:
        """One job; None when it does not exist (the API's 404 NOT_FOUND)."""
        ...
