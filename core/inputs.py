"""The run's clock and game date as a caller writes them (CLI flag or HTTP parameter), read one way."""

from __future__ import annotations

import re
from datetime import date, datetime, timezone

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def parse_instant(text: str) -> datetime:
    """ISO 8601 with a UTC offset ('Z' allowed), as UTC; a time without an offset is ambiguous, so refused."""
    stripped = text.strip()
    try:
        value = datetime.fromisoformat(stripped[:-1] + "+00:00" if stripped.endswith(("Z", "z")) else stripped)
    except ValueError:
        raise ValueError(f"expected an ISO 8601 time with a UTC offset, e.g. 2026-11-21T23:30:00Z (got {text[:64]!r})") from None
    if value.tzinfo is None:
        raise ValueError("give a UTC offset, e.g. 2026-11-21T23:30:00Z or 2026-11-21T18:30:00-05:00")
    return value.astimezone(timezone.utc)


def parse_game_date(text: str) -> date:
    """A league-local game date YYYY-MM-DD."""
    if _DATE.match(text.strip()):
        try:
            return date.fromisoformat(text.strip())
        except ValueError:
            pass
    raise ValueError(f"expected a league-local game date YYYY-MM-DD, e.g. 2026-11-21 (got {text[:64]!r})")
