"""How a moment is shown to a reader: the league's clock first, UTC beside it (one home for every message)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone, tzinfo


def league_time(moment: datetime, zone: tzinfo = timezone.utc, *, weekday: bool = True) -> str:
    """'Sat 2026-11-21 17:30 EST (22:30 UTC)' (without the weekday: '2026-11-21 17:30 EST (22:30 UTC)');
    in UTC itself, once: 'Sat 2026-11-21 22:30 UTC'."""
    utc = moment.astimezone(timezone.utc)
    local = moment.astimezone(zone)
    day = "%a %Y-%m-%d %H:%M" if weekday else "%Y-%m-%d %H:%M"
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", None):
        return f"{utc:{day}} UTC"
    return f"{local:{day}} {local.tzname()} ({utc:%H:%M} UTC)"


def clock(moment: datetime, zone: tzinfo = timezone.utc) -> str:
    """'17:30 EST': the league's wall clock only (for "no data since HH:MM" in a line that already has a day)."""
    local = moment.astimezone(zone)
    return f"{local:%H:%M} {local.tzname() or 'UTC'}"
