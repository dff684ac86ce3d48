"""The IAM port: getIamPolicy answers (JSON, version 3) of a Cloud Run service and of its project."""

from __future__ import annotations

from typing import Any, Protocol

Policy = dict[str, Any]


class IamPolicies(Protocol):
    source: str

    def get(self, *, project: str, region: str, service: str) -> Policy | None:
        """The service's policy as JSON ({"bindings": [...], "etag": ...}); None if the service does not exist."""
        ...

    def get_project(self, *, project: str) -> Policy:
        """The project's policy as JSON: a service's policy does not include inherited (project) grants."""
        ...
