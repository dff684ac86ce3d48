"""The production Cloud Scheduler source: google-cloud-scheduler's CloudSchedulerClient over REST
(`GET /v1/{parent}/jobs`, `GET /v1/{name}`), built on first use (`import main` loads no client).

Answers are turned into the REST JSON (MessageToDict), so the monitor reads what the local file holds.
CANARY_SCHEDULER_ENDPOINT points the client at a local stand-in (tests only, with no credentials).
"""

from __future__ import annotations

import threading
from typing import Any

from google.protobuf.json_format import MessageToDict

from sources.cloud_run_iam import api_error
from sources.scheduler import Job, job_name

SOURCE = "cloud_scheduler"
PAGE_SIZE = 500
"""listJobs' pageSize: "The maximum page size is 500"
(https://cloud.google.com/scheduler/docs/reference/rest/v1/projects.locations.jobs/list)."""


class GcpSchedulerJobs:
    source = SOURCE

    def __init__(self, *, endpoint: str | None = None, timeout_seconds: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        from google.cloud import scheduler_v1

        with self._lock:
            if self._client is None:
                if self.endpoint:
                    from google.auth.credentials import AnonymousCredentials

                    self._client = scheduler_v1.CloudSchedulerClient(
                        transport="rest", client_options={"api_endpoint": self.endpoint}, credentials=AnonymousCredentials(),
                    )
                else:
                    self._client = scheduler_v1.CloudSchedulerClient(transport="rest")
            return self._client

    def list_jobs(self, *, project: str, location: str) -> list[Job]:
        parent = f"projects/{project}/locations/{location}"
        try:
            # The pager follows nextPageToken until the last page.
            pages = self._get_client().list_jobs(request={"parent": parent, "page_size": PAGE_SIZE}, timeout=self.timeout_seconds)
            return [MessageToDict(job._pb) for job in pages]
        except Exception as error:
            raise api_error(SOURCE, parent, error) from None

    def get_job(self, *, project: str, location: str, job: str) -> Job | None:
        from google.api_core import exceptions as api_exceptions

        name = job_name(project=project, location=location, job=job)
        try:
            answer = self._get_client().get_job(request={"name": name}, timeout=self.timeout_seconds)
        except api_exceptions.NotFound:
            return None
        except Exception as error:
            raise api_error(SOURCE, name, error) from None
        return MessageToDict(answer._pb)
