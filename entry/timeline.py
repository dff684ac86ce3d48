"""The readable timeline of a replay: each incident with its notices, then the totals that show noise."""

from __future__ import annotations

from datetime import datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from alerts.message import humanize
from alerts.render_text import inert_text
from core.config import RepeatIntervals
from run.replay import ReplayIncident, ReplayReport


def short_incidents(report: ReplayReport, repeat_after: RepeatIntervals) -> list[ReplayIncident]:
    """Resolved incidents that lasted less than their severity's repeat interval: what flapping looks like."""
    return [
        i for i in report.incidents
        if i.resolved_at is not None and i.resolved_at - i.opened_at < repeat_after.for_severity(i.severity)
    ]


def print_timeline(report: ReplayReport, *, out: TextIO, zone: ZoneInfo, repeat_after: RepeatIntervals) -> None:
    """Per incident: opened, each notice, resolved or still open at the end, duration; then the totals."""

    def at(moment: datetime) -> str:
        return f"{moment.astimezone(zone):%Y-%m-%d %H:%M %Z}"

    print(
        f"replay {report.first} .. {report.last} every {report.every}: {report.ticks:,} ticks; "
        f"replayed: {', '.join(report.replayed) or 'nothing'}",
        file=out,
    )
    for skipped in report.not_replayed:
        print(f"not replayed: {skipped.monitor} ({skipped.why})", file=out)
    for number, incident in enumerate(report.incidents, start=1):
        labels = ", ".join(f"{inert_text(k)}={inert_text(v)}" for k, v in incident.key.items())
        print(f"\nincident {number}: {incident.severity.value} {incident.monitor} {{{labels}}}", file=out)
        for notice in (n for n in report.notices if n.fingerprint == incident.fingerprint):
            if incident.opened_at <= notice.at and (incident.resolved_at is None or notice.at <= incident.resolved_at):
                reason = "escalated" if notice.escalated else notice.reason.value
                print(f"  {at(notice.at)}  {reason:<9}  {inert_text(notice.summary)}", file=out)
        if incident.resolved_at is None:
            print(f"  still open at the end of the replay ({humanize(report.end - incident.opened_at)} so far)", file=out)
        else:
            print(f"  lasted {humanize(incident.resolved_at - incident.opened_at)}", file=out)
    days = (report.last - report.first).days + 1
    short = short_incidents(report, repeat_after)
    if report.future_ticks:
        print(f"\nnot replayed: the {report.future_ticks} tick(s) of {report.last} after now (they have not happened)",
              file=out)
    print("\nper monitor:", file=out)
    for m in report.monitors:
        escalations = f", {m.escalations} escalation(s)" if m.escalations else ""
        print(f"  {m.monitor}: {m.incidents} incident(s), {m.notices} notice(s){escalations}; "
              f"rows on {m.days_with_rows} of {days} day(s)", file=out)
    games = "" if report.days_with_games is None else (
        f", {report.days_with_games} of them with games"
        + (f" ({len(report.notices) / report.days_with_games:.2f} notices per day with games)" if report.days_with_games else "")
    )
    print(
        f"\ntotals: {len(report.incidents)} incident(s), {len(report.notices)} notice(s), "
        f"{len(report.notices) / days:.2f} notices per day over {days} day(s){games}, "
        f"{len(short)} incident(s) shorter than one repeat interval; replayed in {report.duration_ms / 1000:.2f} s",
        file=out,
    )
