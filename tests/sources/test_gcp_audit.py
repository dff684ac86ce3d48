"""google-cloud-logging's HTTP client against the entries.list stand-in, and the local file: the same change."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from demo.pipeline import audit_entry
from sources.audit_files import AuditLogFile
from sources.errors import SourceError
from sources.gcp_audit import GcpAuditLog
from tests.servers.fake_logging import FakeLogging, fake_logging  # noqa: F401  (fixture)

NOW = datetime(2026, 11, 21, 23, 30, tzinfo=timezone.utc)
P, R, S = "nba-props-platform", "us-west2", "phase4-to-phase5-orchestrator"


def entries() -> list[dict]:
    def one(method: str, hours: float, *, service: str = S, v1: bool = True) -> dict:
        return audit_entry(P, R, service, method=method, principal="x@example.com", at=NOW - timedelta(hours=hours), v1=v1)

    return [
        one("SetIamPolicy", 30, v1=False),
        one("ReplaceService", 20),                       # the latest change of S (v1 name)
        one("GetService", 1),                            # not a change
        one("DeleteService", 2, service="phase3-to-phase4-orchestrator"),
        {**one("UpdateService", 3, v1=False), "logName": f"projects/{P}/logs/cloudaudit.googleapis.com%2Fdata_access"},
        one("CreateService", 24 * 8),                    # older than 7 days
    ]


@pytest.mark.parametrize("since_hours, expected", [(24 * 7, "ReplaceService"), (10, None)])
def test_the_latest_change_of_the_service_in_the_window(fake_logging: FakeLogging, tmp_path, since_hours, expected):
    fake_logging.set_entries(entries())
    (tmp_path / "audit_log.json").write_text(json.dumps(entries()))
    since = NOW - timedelta(hours=since_hours)
    gcp = GcpAuditLog(project=P, endpoint=fake_logging.endpoint).latest_change(project=P, region=R, service=S, since=since)
    local = AuditLogFile(folder=tmp_path).latest_change(project=P, region=R, service=S, since=since)
    for found in (gcp, local):
        assert (found and found["protoPayload"]["methodName"].rsplit(".", 1)[-1]) == (expected or None)
    if expected:
        assert gcp is not None and local is not None and gcp["insertId"] == local["insertId"]
    [request] = fake_logging.requests
    assert (request["orderBy"], request["pageSize"], request["resourceNames"]) == ("timestamp desc", 1, [f"projects/{P}"])


def test_a_denied_read_is_a_source_error_naming_the_service(fake_logging: FakeLogging):
    fake_logging.fault = "forbidden"
    with pytest.raises(SourceError, match=rf"^cloud_logging: audit log of {S}: 403 "):
        GcpAuditLog(project=P, endpoint=fake_logging.endpoint).latest_change(project=P, region=R, service=S, since=NOW)
