"""The IAM port: a Cloud Run service's IAM policy as getIamPolicy's JSON (None when the service is absent)."""

from __future__ import annotations

from typing import Any, Protocol

Policy = dict[str, Any]


class IamPolicies(Protocol):
    source: str

    def get(self, *, project: str, region: str, service: str) -> Policy | None:
        """The policy as JSON ({"bindings": [...], "etag": ...}); None if the service does not exist."""
        ...
