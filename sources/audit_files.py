"""The embedded audit-log source: audit_log.json in the local folder, a JSON list of LogEntry objects as
`gcloud logging read --format=json` prints them (newest first; each with timestamp, logName, insertId
and an AuditLog protoPayload). A missing file is a SourceError: "no change" is never guessed."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sources.audit import CHANGE_METHOD, RUN_SERVICE, Entry, activity_log, entry_time, resource_names
from sources.errors import SourceError
from sources.iam_file import read_json_file

SOURCE = "audit_file"
FILE = "audit_log.json"


class AuditLogFile:
    source = SOURCE

    def __init__(self, *, folder: Path) -> None:
        self.path = folder / FILE

    def latest_change(self, *, project: str, region: str, service: str, since: datetime) -> Entry | None:
        data = read_json_file(self.path, source=SOURCE)
        if not isinstance(data, list):
            raise SourceError(SOURCE, f"{self.path} must hold a JSON list of log entries (gcloud logging read --format=json)")
        names = set(resource_names(project=project, region=region, service=service))
        matching = []
        for entry in data:
            if not isinstance(entry, dict):
                continue
            payload = entry.get("protoPayload") or {}
            at = entry_time(entry)
            if (
                entry.get("logName") == activity_log(project)
                and payload.get("serviceName") == RUN_SERVICE
                and payload.get("resourceName") in names
                and CHANGE_METHOD.search(str(payload.get("methodName") or ""))
                and at is not None and at >= since
            ):
                matching.append((at, entry))
        return max(matching, key=lambda pair: pair[0])[1] if matching else None
