"""The production warehouse: BigQuery through google-cloud-bigquery, one query job per call."""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import bigquery
from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY, DEFAULT_RETRY

from sources.errors import SourceError
from sources.tables import with_dataset_prefix
from sources.warehouse import ParamValue, Row

SOURCE = "bigquery"


def query_parameter(name: str, value: ParamValue) -> Any:
    """Map a Python value to a typed BigQuery query parameter (bool before int: bool is an int)."""
    if isinstance(value, list):
        return bigquery.ArrayQueryParameter(name, "STRING", [str(item) for item in value])
    if isinstance(value, bool):
        return bigquery.ScalarQueryParameter(name, "BOOL", value)
    if isinstance(value, datetime):
        return bigquery.ScalarQueryParameter(name, "TIMESTAMP", value)
    if isinstance(value, date):
        return bigquery.ScalarQueryParameter(name, "DATE", value)
    if isinstance(value, int):
        return bigquery.ScalarQueryParameter(name, "INT64", value)
    if isinstance(value, float):
        return bigquery.ScalarQueryParameter(name, "FLOAT64", value)
    return bigquery.ScalarQueryParameter(name, "STRING", value)


class BigQueryWarehouse:
    source = SOURCE

    def __init__(
        self, *, project: str, endpoint: str | None = None, timeout_seconds: float = 60.0, dataset_prefix: str = ""
    ) -> None:
        self.project = project
        self.dataset_prefix = dataset_prefix
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self.jobs = 0
        self._client: bigquery.Client | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> bigquery.Client:
        with self._lock:
            if self._client is None:
                if self.endpoint:
                    # A local emulator: no Google credentials, the endpoint from CANARY_BIGQUERY_ENDPOINT.
                    self._client = bigquery.Client(
                        project=self.project,
                        credentials=AnonymousCredentials(),
                        client_options={"api_endpoint": self.endpoint},
                    )
                else:
                    self._client = bigquery.Client(project=self.project)
            self.jobs += 1
            return self._client

    def query(self, sql: str, params: dict[str, ParamValue]) -> list[Row]:
        try:
            sql = with_dataset_prefix(sql, self.dataset_prefix)
            client = self._get_client()
            job_config = bigquery.QueryJobConfig(
                query_parameters=[query_parameter(name, value) for name, value in params.items()]
            )
            # Retries stay within the query's budget. The library's defaults retry for 10 min (jobs.insert,
            # also wrapped in a 10-min insert retry unless job_retry is None) and 40 min (the job), which would
            # keep a timed-out monitor's thread hammering a sick API long after the run reported the error.
            retry = DEFAULT_RETRY.with_timeout(self.timeout_seconds)
            job = client.query(sql, job_config=job_config, timeout=self.timeout_seconds, retry=retry, job_retry=None)
            rows = job.result(
                timeout=self.timeout_seconds, retry=retry, job_retry=DEFAULT_JOB_RETRY.with_timeout(self.timeout_seconds)
            )
            return [dict(row.items()) for row in rows]
        except api_exceptions.GoogleAPICallError as error:
            raise SourceError(SOURCE, f"{error.code or ''} {type(error).__name__}: {error.message}".strip()) from None
        except SourceError:
            raise
        except Exception as error:  # timeouts, refused connections, malformed answers from the API
            raise SourceError(SOURCE, f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else 'no detail'}") from None
