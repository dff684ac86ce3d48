"""The audit-log port: the latest Admin Activity entry that changed a Cloud Run service (its IAM policy,
its configuration or its existence), as Cloud Logging LogEntry JSON.

Cloud Run's audit logging page (https://cloud.google.com/run/docs/audit-logging) names the service
`run.googleapis.com` and, among the Admin Activity operations, Services.CreateService,
Services.ReplaceService (a redeploy through the v1 API, which gcloud uses), Services.DeleteService and
Services.SetIamPolicy; the v2 API's methods are Services.UpdateService and the same others. The method
names are fully qualified (google.cloud.run.v1.Services.ReplaceService), hence a regular expression.
An entry's protoPayload is an AuditLog: `methodName`, `resourceName`, `authenticationInfo.principalEmail`
(https://cloud.google.com/logging/docs/audit/understanding-audit-logs). The v1 API names a service
`namespaces/PROJECT/services/SERVICE`, the v2 API `projects/PROJECT/locations/REGION/services/SERVICE`:
both are matched.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

Entry = dict[str, Any]

RUN_SERVICE = "run.googleapis.com"
CHANGE_METHODS = r"Services\.(CreateService|ReplaceService|UpdateService|DeleteService|SetIamPolicy)$"
"""The methods that can drop an invoker binding or the service itself (matched against methodName)."""
CHANGE_METHOD = re.compile(CHANGE_METHODS)
LOOKBACK = timedelta(days=7)
"""How far back a change is looked for."""


def resource_names(*, project: str, region: str, service: str) -> tuple[str, str]:
    """The two names Cloud Run audit entries give a service (v2 API, v1 API)."""
    return f"projects/{project}/locations/{region}/services/{service}", f"namespaces/{project}/services/{service}"


def activity_log(project: str) -> str:
    """The Admin Activity audit log of a project (https://cloud.google.com/logging/docs/audit#types)."""
    return f"projects/{project}/logs/cloudaudit.googleapis.com%2Factivity"


def change_filter(*, project: str, region: str, service: str, since: datetime) -> str:
    """The Logging query language filter of entries.list (https://cloud.google.com/logging/docs/view/logging-query-language)."""
    names = " OR ".join(f'"{name}"' for name in resource_names(project=project, region=region, service=service))
    stamp = since.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (
        f'logName="{activity_log(project)}" AND protoPayload.serviceName="{RUN_SERVICE}" '
        f"AND protoPayload.resourceName=({names}) "
        f'AND protoPayload.methodName=~"{CHANGE_METHODS}" AND timestamp>="{stamp}"'
    )


def entry_time(entry: Entry) -> datetime | None:
    text = str(entry.get("timestamp") or "")
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None
    except ValueError:
        return None


class AuditLog(Protocol):
    source: str

    def latest_change(self, *, project: str, region: str, service: str, since: datetime) -> Entry | None:
        """The newest entry at or after `since` that changed the service; None when there is none."""
        ...
