"""Silences: mute matching first/repeat notices until an expiry (resolved notices still go).

The Silence record is in core.model; creating one from an operator's words and matching it are here."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Sequence

from core.config import ConfigError, parse_duration
from core.model import Finding, Silence

MAX_SILENCE_DAYS = 30


class SilenceError(ConfigError):
    """A silence that cannot be created as asked."""


def parse_matchers(pairs: list[str]) -> dict[str, str]:
    matchers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise SilenceError(f"--match: expected LABEL=VALUE, got {pair!r}")
        matchers[name.strip()] = value.strip()
    return matchers


def new_silence(*, matchers: dict[str, str], duration: str, reason: str, author: str, now: datetime) -> Silence:
    try:
        length = parse_duration(duration)
    except ValueError as error:
        raise SilenceError(f"--for: {error}") from None
    if length.total_seconds() <= 0 or length.days > MAX_SILENCE_DAYS:
        raise SilenceError(f"--for: give a duration from 1m to {MAX_SILENCE_DAYS}d")
    if not reason.strip():
        raise SilenceError("--reason: say why (it is shown to whoever wonders where the alert went)")
    return Silence(
        id=uuid.uuid4().hex[:10], matchers=matchers, author=author, reason=reason.strip(), created_at=now,
        expires_at=now + length,
    )


def silence_for(finding: Finding, silences: Sequence[Silence], *, now: datetime) -> Silence | None:
    """The first active silence that matches this finding, if any."""
    return next((s for s in silences if s.matches(monitor=finding.monitor, key=finding.key, now=now)), None)
