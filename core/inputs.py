"""The run's clock and game date as a caller writes them (CLI flag or HTTP parameter), read one way.

Both are refused outside a sane range (the league's seasons, with room on either side) before any
source is read: a year-1 or year-9999 moment is a typo or a probe, and date arithmetic near the ends
of Python's calendar overflows.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
MAX_INPUT_CHARS = 64
"""Longer than any ISO 8601 time or date; a longer value is refused before it is parsed."""

EARLIEST = date(2000, 1, 1)
LATEST = date(2099, 12, 31)
"""The range a run's clock and a checked game date must fall in (UTC date for the clock)."""


def _in_range(day: date, what: str) -> None:
    if not EARLIEST <= day <= LATEST:
        raise ValueError(f"{what} {day.isoformat()} is outside the supported range {EARLIEST} to {LATEST}")


def parse_instant(text: str) -> datetime:
    """ISO 8601 with a UTC offset ('Z' allowed), as UTC; a time without an offset is ambiguous, so refused."""
    stripped = text.strip()
    example = "e.g. 2026-11-21T23:30:00Z"
    if len(stripped) > MAX_INPUT_CHARS:
        raise ValueError(f"expected an ISO 8601 time with a UTC offset, {example} (got {len(stripped)} characters)")
    try:
        value = datetime.fromisoformat(stripped[:-1] + "+00:00" if stripped.endswith(("Z", "z")) else stripped)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time with a UTC offset, {example} (got {text[:64]!r})") from None
    if value.tzinfo is None:
        raise ValueError("give a UTC offset, e.g. 2026-11-21T23:30:00Z or 2026-11-21T18:30:00-05:00")
    # Range first, on the naive value: converting 0001-01-01T00:00+01:00 to UTC overflows.
    _in_range(value.replace(tzinfo=None).date(), "time")
    try:
        utc = value.astimezone(timezone.utc)
    except OverflowError:  # unreachable inside the range; kept so no offset can ever crash a run
        raise ValueError(f"time {text[:64]!r} is outside the supported range {EARLIEST} to {LATEST}") from None
    _in_range(utc.date(), "time")
    return utc


MAX_AHEAD = timedelta(minutes=5)
"""How far a written run's explicit clock may lead the real one (a caller's clock skew)."""


def check_not_ahead(given: datetime, *, real_now: datetime, name: str) -> None:
    """A run that writes (notices, records) may not be set in the future: its records would be the latest on
    record, and every later run at an explicit time before them would be refused as a replay of the past."""
    if given > real_now + MAX_AHEAD:
        raise ValueError(
            f"{name} {given.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ} is later than the real clock "
            f"({real_now.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}): what it sends would be recorded in the future "
            f"and block every later run at an explicit time; give a time up to now"
        )


def parse_game_date(text: str) -> date:
    """A league-local game date YYYY-MM-DD, within the supported range."""
    stripped = text.strip()
    if _DATE.match(stripped):
        try:
            day = date.fromisoformat(stripped)
        except ValueError:
            pass
        else:
            _in_range(day, "game date")
            return day
    raise ValueError(f"expected a league-local game date YYYY-MM-DD, e.g. 2026-11-21 (got {text[:64]!r})")
