"""The production audit-log source: Cloud Logging `entries.list` through google-cloud-logging's HTTP
(JSON) client, newest first, one entry (https://cloud.google.com/logging/docs/reference/v2/rest/v2/entries/list).

Built on first use. CANARY_LOGGING_ENDPOINT points the client at a local stand-in (tests only, no
credentials); the HTTP client is used (not gRPC) so that stand-in can be a plain REST server.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Any

from sources.audit import Entry, change_filter
from sources.cloud_run_iam import api_error

SOURCE = "cloud_logging"


class GcpAuditLog:
    source = SOURCE

    def __init__(self, *, project: str, endpoint: str | None = None, timeout_seconds: float = 30.0) -> None:
        self.project = project
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self._client: Any = None
        self._lock = threading.Lock()

    def _get_client(self) -> Any:
        from google.cloud import logging as cloud_logging

        with self._lock:
            if self._client is None:
                options: dict[str, Any] = {"project": self.project, "_use_grpc": False}
                if self.endpoint:
                    from google.auth.credentials import AnonymousCredentials

                    options |= {"client_options": {"api_endpoint": self.endpoint}, "credentials": AnonymousCredentials()}
                self._client = cloud_logging.Client(**options)
            return self._client

    def latest_change(self, *, project: str, region: str, service: str, since: datetime) -> Entry | None:
        from google.cloud import logging as cloud_logging

        query = change_filter(project=project, region=region, service=service, since=since)
        try:
            entries = self._get_client().list_entries(
                resource_names=[f"projects/{project}"], filter_=query, order_by=cloud_logging.DESCENDING,
                page_size=1, max_results=1,
            )
            for entry in entries:
                return dict(entry.to_api_repr())
            return None
        except Exception as error:
            raise api_error(SOURCE, f"audit log of {service}", error) from None
