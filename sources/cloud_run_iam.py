"""The production IAM source: Cloud Run Admin API v2 getIamPolicy (google-cloud-run) for a service, and
Resource Manager v3 getIamPolicy (google-cloud-resource-manager) for its project, both asking version 3.

"Requests for policies with any conditional role bindings must specify version 3"
(https://cloud.google.com/iam/docs/reference/rest/v1/GetPolicyOptions); without it a conditional binding
comes back as ROLE_withcond_HASH with its condition hidden (https://cloud.google.com/iam/docs/troubleshooting-withcond).
The Python clients do not ask for it by themselves (gcloud does).
"""

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
PROJECT_SOURCE = "resource_manager"
POLICY_VERSION = 3


class CloudRunIamPolicies:
    source = SOURCE

    def __init__(
        self, *, endpoint: str | None = None, resource_manager_endpoint: str | None = None, timeout_seconds: float = 30.0,
    ) -> None:
        self.endpoint = endpoint
        self.resource_manager_endpoint = resource_manager_endpoint
        self.timeout_seconds = timeout_seconds
        self._client: run_v2.ServicesClient | None = None
        self._projects: Any = None
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
                request={"resource": resource, "options": {"requested_policy_version": POLICY_VERSION}},
                timeout=self.timeout_seconds,
            )
        except api_exceptions.NotFound:
            return None
        except Exception as error:
            raise api_error(SOURCE, service, error) from None
        return MessageToDict(response, preserving_proto_field_name=False)

    def _get_projects_client(self) -> Any:
        from google.cloud import resourcemanager_v3  # imported on first use: `import main` loads no client

        with self._lock:
            if self._projects is None:
                options, credentials = None, None
                if self.resource_manager_endpoint:
                    # A local stand-in (CANARY_RESOURCE_MANAGER_ENDPOINT): REST, no credentials.
                    options, credentials = {"api_endpoint": self.resource_manager_endpoint}, AnonymousCredentials()
                self._projects = resourcemanager_v3.ProjectsClient(
                    transport="rest", client_options=options, credentials=credentials
                )
            return self._projects

    def get_project(self, *, project: str) -> Policy:
        try:
            response = self._get_projects_client().get_iam_policy(
                request={"resource": f"projects/{project}", "options": {"requested_policy_version": POLICY_VERSION}},
                timeout=self.timeout_seconds,
            )
        except Exception as error:
            raise api_error(PROJECT_SOURCE, f"projects/{project}", error) from None
        return MessageToDict(response, preserving_proto_field_name=False)


def api_error(source: str, what: str, error: Exception) -> SourceError:
    """A client library's failure as a SourceError naming the source and the resource (one line)."""
    if isinstance(error, api_exceptions.GoogleAPICallError):
        return SourceError(source, f"{what}: {error.code or ''} {type(error).__name__}: {error.message}".replace("  ", " "))
    detail = str(error).splitlines()[0] if str(error) else "no detail"  # timeouts, refused connections, malformed answers
    return SourceError(source, f"{what}: {type(error).__name__}: {detail}")
