"""What an alert says, independent of where it is shown: a pure function of the decision and `now`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from core.model import Decision, Reason, Severity

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
    caused_by: str | None = None
    """The fingerprint of the firing finding that explains this one (alerts/causes.py)."""
    cause: str | None = None
    """That cause as one line ("orchestrator_iam: ..."), shown as "caused by"."""
    affects: list[str] = field(default_factory=list)
    """The firing findings this one explains, one line each, shown as "also affected"."""


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
_NOT_FACTS = frozenset({"evidence", "synthetic", "project", "region", "service", "transition", "game_date", "system_id"})


def _facts(details: dict[str, Any]) -> list[tuple[str, str]]:
    shown = []
    for name, value in details.items():
        if name in _NOT_FACTS or value is None or value == [] or value == "":
            continue
        text = ", ".join(str(v) for v in value) if isinstance(value, list) else _readable(value)
        shown.append((name.replace("_", " "), text))
    return shown


def _readable(value: Any) -> str:
    """An ISO timestamp as 'YYYY-MM-DD HH:MM UTC'; anything else as it is."""
    if isinstance(value, str) and len(value) >= 16 and value[4] == "-" and value[10] == "T":
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if moment.tzinfo is not None:
            return f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M} UTC"
    return str(value)


def build_message(decision: Decision, *, now: datetime) -> AlertMessage:
    previous = decision.previous
    if decision.reason is Reason.RESOLVED:
        assert previous is not None
        lasted = humanize(now - previous.first_seen)
        if decision.note:
            title = f"No longer checked: {previous.summary}"
            why_now = f"closed unverified: {decision.note}; it was firing for {lasted}"
        else:
            title = f"Resolved: {previous.summary}"
            why_now = f"resolved: no longer seen by {previous.resolves_with}'s run at {now:%Y-%m-%d %H:%M} UTC; it lasted {lasted}"
        return AlertMessage(
            fingerprint=decision.fingerprint,
            reason=decision.reason,
            severity=previous.severity,
            monitor=previous.monitor,
            title=title,
            where=_where(previous.key),
            why_now=why_now,
            first_notified=previous.first_seen,
        )
    finding = decision.finding
    assert finding is not None
    if decision.reason is Reason.REPEAT and previous is not None:
        why_now = (
            f"still firing after {humanize(now - previous.first_seen)} "
            f"(notice {previous.notify_count + 1}; first sent {previous.first_seen:%Y-%m-%d %H:%M} UTC)"
        )
    else:
        why_now = "first notice: newly firing in this run"
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
        facts=_facts(finding.details),
        first_notified=previous.first_seen if previous else None,
        synthetic=bool(finding.details.get("synthetic")),
    )


def where_of(key: dict[str, str]) -> list[tuple[str, str]]:
    """A key's labels in the order a reader looks for them, the problem last."""
    return _where(key)


def _where(key: dict[str, str]) -> list[tuple[str, str]]:
    ordered = [name for name in _WHERE_ORDER if name in key and name != "problem"]
    ordered += sorted(name for name in key if name not in ordered and name != "problem")
    return [(name, key[name]) for name in ordered] + ([("problem", key["problem"])] if "problem" in key else [])
