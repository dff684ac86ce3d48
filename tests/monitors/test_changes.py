"""Who changed it: the latest audit entry of a service, in the findings it may explain."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from core.model import Finding, Severity
from demo.pipeline import audit_entry
from monitors.base import CheckContext, Sources
from monitors.changes import with_latest_change
from sources.audit_files import AuditLogFile
from tests.production import PIPELINE

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
CTX = CheckContext(now=NOW, today=date(2026, 11, 21), zone=ZoneInfo("America/New_York"), pipeline=PIPELINE)
SERVICE = "phase4-to-phase5-orchestrator"


def finding(problem: str, service: str = SERVICE) -> Finding:
    return Finding(monitor="orchestrator_iam", severity=Severity.CRITICAL, key={"service": service, "problem": problem}, summary="s")


def sources(folder: Path, entries: list[dict]) -> Sources:
    import json

    (folder / "audit_log.json").write_text(json.dumps(entries))
    return Sources(warehouse=None, iam=None, push=None, audit=AuditLogFile(folder=folder))  # type: ignore[arg-type]


def entry(method: str, at: datetime, *, service: str = SERVICE, v1: bool = False, who: str = "a@example.com") -> dict:
    return audit_entry(PIPELINE.project, PIPELINE.region, service, method=method, principal=who, at=at, v1=v1)


def test_the_latest_change_in_either_name_form_wins(tmp_path):
    entries = [
        entry("SetIamPolicy", NOW - timedelta(days=2), who="old@example.com"),
        entry("ReplaceService", NOW - timedelta(hours=5), v1=True, who="deployer@example.com"),
        entry("UpdateService", NOW - timedelta(hours=1), service="phase3-to-phase4-orchestrator"),  # another service
    ]
    [told] = with_latest_change([finding("missing_invoker")], sources(tmp_path, entries), CTX)
    assert told.details["last_change"] == "ReplaceService (a redeploy) by deployer@example.com at 2026-11-21 13:30 EST (18:30 UTC)"


def test_only_changes_of_the_last_seven_days_and_only_changing_methods(tmp_path):
    entries = [
        entry("DeleteService", NOW - timedelta(days=8)),
        {**entry("SetIamPolicy", NOW - timedelta(hours=1)), "protoPayload": {
            **entry("SetIamPolicy", NOW)["protoPayload"], "methodName": "google.cloud.run.v2.Services.GetIamPolicy"}},
    ]
    [told] = with_latest_change([finding("not_found")], sources(tmp_path, entries), CTX)
    assert told.details["last_change"] == "none of the service in its Admin Activity audit log in the last 7 days"


def test_other_problems_are_left_alone_and_no_audit_source_says_it_could_not_be_read(tmp_path):
    public = finding("public_invoker")
    assert with_latest_change([public], sources(tmp_path, [entry("SetIamPolicy", NOW)]), CTX) == [public]
    [told] = with_latest_change([finding("missing_invoker")], Sources(warehouse=None, iam=None, push=None), CTX)  # type: ignore[arg-type]
    assert told.details["last_change"].startswith("could not be read")


def test_a_malformed_audit_file_is_could_not_be_read(tmp_path):
    (tmp_path / "audit_log.json").write_text("{not json")
    src = Sources(warehouse=None, iam=None, push=None, audit=AuditLogFile(folder=tmp_path))  # type: ignore[arg-type]
    [told] = with_latest_change([finding("push_account_cannot_invoke")], src, CTX)
    assert told.details["last_change"].startswith("could not be read (audit_file: ") and "not valid JSON" in told.details["last_change"]
