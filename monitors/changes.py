"""Who changed it: the latest Admin Activity change of a Cloud Run service, added to the findings it may
explain (a dropped invoker binding, a push account that lost access, a service that is gone).

One entries.list per affected service (sources.audit). A failure to read the audit log never blocks the
alert: the finding says the change could not be read, and why.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone, tzinfo
from urllib.parse import quote

from core.model import Finding
from monitors.base import CheckContext, Sources
from sources.audit import LOOKBACK, Entry, entry_time
from sources.errors import SourceError

EXPLAINED = frozenset({"missing_invoker", "push_account_cannot_invoke", "not_found"})
CONSOLE = "https://console.cloud.google.com"
WHAT = {
    "SetIamPolicy": "its IAM policy was replaced",
    "ReplaceService": "a redeploy",
    "UpdateService": "a redeploy",
    "CreateService": "the service was created",
    "DeleteService": "the service was deleted",
}


def _league_time(moment: datetime, zone: tzinfo) -> str:
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()} ({moment.astimezone(timezone.utc):%H:%M} UTC)"


def entry_link(entry: Entry, *, project: str) -> str | None:
    """A Logs Explorer link showing this one entry (by insertId, in a two-minute range around it)."""
    at, insert_id = entry_time(entry), entry.get("insertId")
    if at is None or not insert_id:
        return None
    stamp = lambda moment: moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    query = quote(f'insertId="{insert_id}"', safe="")
    return (
        f"{CONSOLE}/logs/query;query={query};startTime={stamp(at - timedelta(minutes=1))};"
        f"endTime={stamp(at + timedelta(minutes=1))}?project={quote(project)}"
    )


def describe_change(entry: Entry | None, *, zone: tzinfo, project: str) -> dict[str, str | None]:
    """The details a finding gets: the change in one line (what, who, when), and its link."""
    if entry is None:
        return {"last_change": f"none of the service in its Admin Activity audit log in the last {LOOKBACK.days} days"}
    payload = entry.get("protoPayload") or {}
    method = str(payload.get("methodName") or "unknown method")
    short = method.rsplit(".", 1)[-1]
    who = str((payload.get("authenticationInfo") or {}).get("principalEmail") or "an unknown principal")
    at = entry_time(entry)
    when = _league_time(at, zone) if at else "an unknown time"
    what = f"{short} ({WHAT[short]})" if short in WHAT else short
    return {"last_change": f"{what} by {who} at {when}", "last_change_entry": entry_link(entry, project=project)}


def with_latest_change(findings: list[Finding], sources: Sources, ctx: CheckContext) -> list[Finding]:
    """The findings, those of EXPLAINED problems with the latest change of their service in their details."""
    services = sorted({f.key["service"] for f in findings if f.key.get("problem") in EXPLAINED and f.key.get("service")})
    if not services:
        return findings
    pipeline, since = ctx.pipeline, ctx.now - LOOKBACK

    def read(service: str) -> dict[str, str | None]:
        if sources.audit is None:
            return {"last_change": "could not be read: no audit log source is configured"}
        try:
            entry = sources.audit.latest_change(project=pipeline.project, region=pipeline.region, service=service, since=since)
        except SourceError as error:
            return {"last_change": f"could not be read ({error})"}
        return describe_change(entry, zone=ctx.zone, project=pipeline.project)

    with ThreadPoolExecutor(max_workers=min(8, len(services))) as pool:
        changes = dict(zip(services, pool.map(read, services)))
    return [
        f.model_copy(update={"details": {**f.details, **{k: v for k, v in changes[f.key["service"]].items() if v}}})
        if f.key.get("problem") in EXPLAINED and f.key.get("service") in changes else f
        for f in findings
    ]
