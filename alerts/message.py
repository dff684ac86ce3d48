"""What an alert says, independent of where it is shown: a pure function of the decision, `now` and the zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from alerts.links import LinkContext, alert_links
from alerts.decide import ESCALATED
from core.league_time import league_time
from core.model import AlertState, Decision, Reason, Severity

# Labels shown as "where" in this order; other key labels follow.
_WHERE_ORDER = ("service", "transition", "game_date", "system_id", "monitor")


@dataclass(frozen=True)
class AlertMessage:
    fingerprint: str
    reason: Reason
    severity: Severity
    monitor: str
    title: str
    where: list[tuple[str, str]]
    why_now: str
    evidence: str | None = None
    since: datetime | None = None
    fix: str | None = None
    facts: list[tuple[str, str]] = field(default_factory=list)
    first_notified: datetime | None = None
    synthetic: bool = False
    zone: tzinfo = timezone.utc
    """The league's zone: every time is shown in it, with UTC beside it."""
    links: list[tuple[str, str]] = field(default_factory=list)
    """(label, url): the Cloud Run service, its logs, the BigQuery table, the runbook entry."""
    unverified: bool = False
    """Closed without being seen healthy ("No longer checked"): it may still be real."""
    check: str | None = None
    """For an unverified close: what to check by hand."""

    caused_by: str | None = None
    """The fingerprint of the firing finding that explains this one (alerts/causes.py)."""
    cause: str | None = None
    """That cause as one line ("orchestrator_iam: ..."), shown as "caused by"."""
    affects: list[str] = field(default_factory=list)
    """The firing findings this one explains, one line each, shown as "also affected"."""
    impact: str | None = None
    """What the incident costs tonight and the time left (alerts/impact.py): a parent's first line."""

    @property
    def broadcast(self) -> bool:
        """A repeat of a critical alert is also shown in the channel (Slack's reply_broadcast), once per repeat."""
        return self.reason is Reason.REPEAT and self.severity is Severity.CRITICAL


def when(moment: datetime, zone: tzinfo = timezone.utc) -> str:
    """'Sat 2026-11-21 17:30 EST (22:30 UTC)': the league's clock first, UTC beside it."""
    return league_time(moment, zone)


def humanize(delta: timedelta) -> str:
    """'3 h 20 min', '45 min', '2 d 4 h': how long, for a reader, not a parser."""
    minutes = max(0, int(delta.total_seconds() // 60))
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    if days:
        return f"{days} d {hours} h" if hours else f"{days} d"
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{minutes} min"


# Labels already said elsewhere in the message (its "where", or the project/region of every IAM alert).
_NOT_FACTS = frozenset({"evidence", "synthetic", "project", "region", "service", "transition", "game_date", "system_id", "table", "phase", "services"})


def _facts(details: dict[str, Any], zone: tzinfo) -> list[tuple[str, str]]:
    shown = []
    for name, value in details.items():
        if name in _NOT_FACTS or value is None or value == [] or value == "":
            continue
        if isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(str(v) for v in value)
        else:
            text = _readable(value, zone)
        shown.append((name.replace("_", " "), text))
    return shown


def _readable(value: Any, zone: tzinfo = timezone.utc) -> str:
    """An ISO timestamp in the league's zone with UTC beside it; anything else as it is."""
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return when(moment, zone)
    return str(value)


def lasted_words(previous: AlertState, *, now: datetime, zone: tzinfo = timezone.utc) -> str:
    """How long a condition lasted, from when it began (its finding's `since`) and from its first notice."""
    began = previous.began
    if began < previous.first_seen:
        return (
            f"{humanize(now - began)} from when it began ({when(began, zone)}), "
            f"{humanize(now - previous.first_seen)} from its first notice ({when(previous.first_seen, zone)})"
        )
    return f"{humanize(now - previous.first_seen)} from its first notice ({when(previous.first_seen, zone)})"


def _unverified_check(decision: Decision) -> str:
    """What to look at by hand when an incident closes because nobody checks it any more."""
    previous = decision.previous
    assert previous is not None
    owner, game_date = previous.resolves_with, previous.key.get("game_date")
    ask = f'{{"monitors": ["{owner}"]' + (f', "date": "{game_date}"' if game_date else "") + ', "dry_run": true}'
    return (
        f"This incident may still be real: it closed because it is no longer checked, not because it was seen "
        f"healthy. Look at the links below, or run the canary for it by hand (request body {ask}; "
        f"the CLI's --monitors {owner}" + (f" --date {game_date}" if game_date else "") + " --dry-run)."
    )


def build_message(
    decision: Decision, *, now: datetime, zone: tzinfo = timezone.utc, links: LinkContext | None = None
) -> AlertMessage:
    """The message of one decision; times are shown in `zone` (UTC beside), links come from `links`."""
    previous = decision.previous
    if decision.reason is Reason.RESOLVED:
        assert previous is not None
        lasted = lasted_words(previous, now=now, zone=zone)
        found_links: list[tuple[str, str]] = []
        if decision.note:
            title = f"No longer checked: {previous.summary}"
            why_now = f"closed unverified: {decision.note}; it was firing for {lasted}"
            if links is not None:
                found_links = alert_links(
                    links, monitor=previous.monitor, key=previous.key, details={}, start=previous.first_seen, end=now
                )
        else:
            title = f"Resolved: {previous.summary}"
            why_now = f"resolved: no longer seen by {previous.resolves_with}'s run at {when(now, zone)}; it lasted {lasted}"
        return AlertMessage(
            fingerprint=decision.fingerprint,
            reason=decision.reason,
            severity=previous.severity,
            monitor=previous.monitor,
            title=title,
            where=_where(previous.key),
            why_now=why_now,
            first_notified=previous.first_seen,
            zone=zone,
            links=found_links,
            unverified=decision.note is not None,
            check=_unverified_check(decision) if decision.note else None,
        )
    finding = decision.finding
    assert finding is not None
    if decision.reason is Reason.REPEAT and previous is not None and decision.note == ESCALATED:
        why_now = (
            f"escalated from {previous.severity.value} to {finding.severity.value} "
            f"(notice {previous.notify_count + 1}; first sent {when(previous.first_seen, zone)})"
        )
        if decision.covered_by is not None:
            why_now += (
                f"; its cause is acknowledged by {decision.covered_by}, which holds back repeats, not a rise in severity"
            )
    elif decision.reason is Reason.REPEAT and previous is not None:
        why_now = (
            f"still firing after {humanize(now - previous.first_seen)} "
            f"(notice {previous.notify_count + 1}; first sent {when(previous.first_seen, zone)})"
        )
    else:
        why_now = "first notice: newly firing in this run"
    start = finding.since or (previous.first_seen if previous else now)
    found = (
        alert_links(links, monitor=finding.monitor, key=finding.key, details=finding.details, start=min(start, now), end=now)
        if links is not None
        else []
    )
    return AlertMessage(
        fingerprint=decision.fingerprint,
        reason=decision.reason,
        severity=finding.severity,
        monitor=finding.monitor,
        title=finding.summary,
        where=_where(finding.key),
        why_now=why_now,
        evidence=finding.details.get("evidence"),
        since=finding.since,
        fix=finding.fix,
        facts=_facts(finding.details, zone),
        first_notified=previous.first_seen if previous else None,
        synthetic=bool(finding.details.get("synthetic")),
        zone=zone,
        links=found,
    )


def where_of(key: dict[str, str]) -> list[tuple[str, str]]:
    """A key's labels in the order a reader looks for them, the problem last."""
    return _where(key)


def _where(key: dict[str, str]) -> list[tuple[str, str]]:
    ordered = [name for name in _WHERE_ORDER if name in key and name != "problem"]
    ordered += sorted(name for name in key if name not in ordered and name != "problem")
    return [(name, key[name]) for name in ordered] + ([("problem", key["problem"])] if "problem" in key else [])
