"""The links every alert carries, built from configuration (pure: the key, the time range and the config).

Cloud Run service console, its logs in Cloud Logging (filter and time range in the URL), the BigQuery
table the monitor read, and the alert's runbook entry in docs/runbook.md.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

from core.config import LinksConfig, Pipeline
from core.model import CANARY_MONITOR


RUNBOOK_LABEL = "Runbook"
"""The label of an alert's runbook link: a parent shows it as its Runbook button (alerts/render_slack.py)."""


@dataclass(frozen=True)
class LinkContext:
    """What links are built from: the pipeline's project, region and services, and where things live."""

    pipeline: Pipeline
    links: LinksConfig
    dataset_prefix: str = ""
    """The datasets' prefix the warehouse reads (staging): a table link opens the table that was read."""


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def cloud_run_url(ctx: LinkContext, service: str) -> str:
    p = ctx.pipeline
    return f"{ctx.links.console}/run/detail/{quote(p.region)}/{quote(service)}?project={quote(p.project)}"


def logs_url(ctx: LinkContext, service: str, *, start: datetime, end: datetime) -> str:
    """Logs Explorer: the service's Cloud Run logs between `start` and `end` (the query is in the URL's path)."""
    query = f'resource.type="cloud_run_revision"\nresource.labels.service_name="{service}"'
    return (
        f"{ctx.links.console}/logs/query;query={quote(query, safe='')};"
        f"startTime={_utc(start)};endTime={_utc(end)}?project={quote(ctx.pipeline.project)}"
    )


def bigquery_url(ctx: LinkContext, table: str) -> str:
    """The BigQuery console opened on `dataset.table` of the pipeline's project."""
    dataset, _, name = table.partition(".")
    project = ctx.pipeline.project
    return f"{ctx.links.console}/bigquery?project={quote(project)}&ws=!1m5!1m4!4m3!1s{quote(project)}!2s{quote(dataset)}!3s{quote(name)}"


def runbook_url(ctx: LinkContext, monitor: str, problem: str | None) -> str:
    """The runbook's entry (docs/runbook.md): its heading `<monitor>: <problem>` (or `<monitor>`), whose anchor
    GitHub renders as `<monitor>-<problem>`."""
    anchor = f"{monitor}-{problem}" if problem else monitor
    return f"{ctx.links.runbook}#{anchor}"


def service_of(ctx: LinkContext, key: dict[str, str], details: dict[str, object]) -> str | None:
    """The Cloud Run service an alert is about: named in its key, or the one starting its transition (or the
    phase named in its details)."""
    if key.get("service"):
        return key["service"]
    if isinstance(details.get("service"), str):
        return str(details["service"])
    label, phase = key.get("transition"), details.get("phase")
    for transition in ctx.pipeline.transitions:
        if transition.label == label or (label is None and transition.to_phase == phase):
            return transition.service
    return None


def services_of(ctx: LinkContext, key: dict[str, str], details: dict[str, object]) -> list[str]:
    """Every service an alert links to: each hop of a transition's push path (details `services`), else the one."""
    hops = details.get("services")
    if isinstance(hops, list) and hops and all(isinstance(s, str) for s in hops):
        return [str(s) for s in hops]
    service = service_of(ctx, key, details)
    return [service] if service else []


def alert_links(
    ctx: LinkContext, *, monitor: str, key: dict[str, str], details: dict[str, object], start: datetime, end: datetime
) -> list[tuple[str, str]]:
    """(label, url) pairs, most useful first."""
    found: list[tuple[str, str]] = []
    services = [ctx.links.canary_service] if monitor == CANARY_MONITOR else services_of(ctx, key, details)
    window_start = start - ctx.links.logs_before
    for service in filter(None, services):
        if monitor != CANARY_MONITOR:
            found.append((f"Cloud Run: {service}", cloud_run_url(ctx, service)))
        found.append((f"Logs: {service}", logs_url(ctx, service, start=window_start, end=end)))
    table = details.get("table")
    if isinstance(table, str) and table:
        table = f"{ctx.dataset_prefix}{table}"  # the monitors name tables unprefixed (sources/tables.py)
        found.append((f"BigQuery: {table}", bigquery_url(ctx, table)))
    found.append((RUNBOOK_LABEL, runbook_url(ctx, monitor, key.get("problem"))))
    return found


_SLACK_CHANNEL_ID = re.compile(r"^[A-Z][A-Z0-9]{1,30}$")
"""A conversation id as Slack returns it (`C0ALERTS`, `G...`, `D...`)."""
_SLACK_TS = re.compile(r"^[0-9]{1,12}\.[0-9]{1,9}$")
"""A message ts as Slack returns it: epoch seconds, a dot, a sequence (`1700000000.000200`)."""


def thread_url(links: LinksConfig, channel: str | None, ts: str | None) -> str | None:
    """A Slack thread's permalink form (`/archives/<channel>/p<ts digits>`), when it was posted to Slack.

    The channel and ts come from a stored record: anything but Slack's own id and ts shapes (the local
    file's offsets, or a forged `<!channel>` / `|label`) gives no link at all."""
    if not channel or not ts or not _SLACK_CHANNEL_ID.match(channel) or not _SLACK_TS.match(ts):
        return None
    return f"{links.slack_archive}/{quote(channel)}/p{ts.replace('.', '')}"
