"""The production IAM source: Cloud Run Admin API v2 getIamPolicy through google-cloud-run."""

from __future__ import annotations

import threading
from typing import Any

from google.api_core import exceptions as api_exceptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2
from google.protobuf.json_format import MessageToDict

from sources.errors import SourceError
from sources.iam import Policy

SOURCE = "cloud_run"


class CloudRunIamPolicies:
    source = SOURCE

    def __init__(self, *, endpoint: str | None = None, timeout_seconds: float = 30.0) -> None:
        self.endpoint = endpoint
        self.timeout_seconds = timeout_seconds
        self._client: run_v2.ServicesClient | None = None
        self._lock = threading.Lock()

    def _get_client(self) -> run_v2.ServicesClient:
        with self._lock:
            if self._client is None:
                options: dict[str, Any] = {}
                credentials = None
                if self.endpoint:
                    # A local fake of the Admin API (CANARY_RUN_ENDPOINT): REST transport, no credentials.
                    options["api_endpoint"] = self.endpoint
                    credentials = AnonymousCredentials()
                self._client = run_v2.ServicesClient(
                    transport="rest", client_options=options or None, credentials=credentials
                )
            return self._client

    def get(self, *, project: str, region: str, service: str) -> Policy | None:
        resource = f"projects/{project}/locations/{region}/services/{service}"
        try:
            response = self._get_client().get_iam_policy(
                request={"resource": resource}, timeout=self.timeout_seconds
            )
        except api_exceptions.NotFound:
            return None
        except api_exceptions.GoogleAPICallError as error:
            raise SourceError(SOURCE, f"{service}: {error.code or ''} {type(error).__name__}: {error.message}".replace("  ", " ")) from None
        except Exception as error:  # timeouts, refused connections, malformed answers
            detail = str(error).splitlines()[0] if str(error) else "no detail"
            raise SourceError(SOURCE, f"{service}: {type(error).__name__}: {detail}") from None
        return MessageToDict(response, preserving_proto_field_name=False)
