"""Acknowledgements: someone has an open incident in hand, so its repeats stop (pure: no I/O, no clock).

An acknowledgement is in force while its incident is open (the same record: same first_seen), its
severity has not risen above the acknowledged one, it has not expired and nobody ended it. The
resolution is always sent; acknowledging a cause covers the effects it explains (alerts/decide.py), except a
rise in an effect's own severity, which is sent in the thread the effect lives in.
The Acknowledgement record is in core.model; making one, finding an incident by a fingerprint prefix,
and judging whether one is in force are here."""

from __future__ import annotations

from datetime import datetime
from typing import Mapping

from core.config import ConfigError, parse_duration
from core.model import AlertState, Acknowledgement, Severity

MAX_ACK_DAYS = 30
MIN_PREFIX = 4
"""A fingerprint prefix shorter than this names too many incidents to be worth matching."""

_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}


class AckError(ConfigError):
    """An acknowledgement that cannot be made or ended as asked (the CLI's exit 2)."""


def in_force(ack: Acknowledgement | None, *, state: AlertState | None, severity: Severity, now: datetime) -> bool:
    """Whether `ack` still holds for the incident recorded as `state`, firing now at `severity`."""
    if ack is None or state is None or not state.firing or ack.ended_at is not None:
        return False
    if ack.incident_since != state.first_seen:
        return False  # the incident it acknowledged resolved; this one fired again since
    if _RANK[severity] > _RANK[ack.severity]:
        return False  # its severity rose: news for everyone again
    return ack.expires_at is None or now < ack.expires_at


def holds(ack: Acknowledgement, *, state: AlertState, now: datetime) -> bool:
    """Whether `ack` holds for `state` as recorded (its severity as last notified)."""
    return in_force(ack, state=state, severity=state.severity, now=now)


def new_ack(*, state: AlertState, by: str, now: datetime, duration: str | None = None) -> Acknowledgement:
    """An acknowledgement of the open incident `state` by `by`, until it resolves or for `duration`."""
    if not by.strip():
        raise AckError("--by: say who acknowledges it")
    expires_at = None
    if duration is not None:
        try:
            length = parse_duration(duration)
        except ValueError as error:
            raise AckError(f"--for: {error}") from None
        if length.total_seconds() <= 0 or length.days > MAX_ACK_DAYS:
            raise AckError(f"--for: give a duration from 1m to {MAX_ACK_DAYS}d (or none: until it resolves)")
        expires_at = now + length
    return Acknowledgement(
        fingerprint=state.fingerprint, by=by.strip(), at=now, incident_since=state.first_seen,
        severity=state.severity, expires_at=expires_at,
    )


def find_incident(prefix: str, firing: Mapping[str, AlertState]) -> AlertState:
    """The open incident whose fingerprint starts with `prefix`: exactly one, or an AckError naming the candidates."""
    wanted = prefix.strip().lower()
    if len(wanted) < MIN_PREFIX:
        raise AckError(f"fingerprint {prefix!r}: give at least {MIN_PREFIX} characters (see `main.py incidents`)")
    matches = sorted(fp for fp in firing if fp.startswith(wanted))
    if not matches:
        listed = ", ".join(sorted(firing)[:10]) or "none"
        raise AckError(f"fingerprint {prefix!r}: no open incident has it (open: {listed}; see `main.py incidents`)")
    if len(matches) > 1:
        candidates = "; ".join(f"{fp} ({firing[fp].monitor}: {firing[fp].summary[:60]})" for fp in matches[:10])
        raise AckError(f"fingerprint {prefix!r} is ambiguous: {len(matches)} open incidents start with it: {candidates}")
    return firing[matches[0]]


def acks_in_force(
    acks: Mapping[str, Acknowledgement], firing: Mapping[str, AlertState], *, now: datetime
) -> dict[str, Acknowledgement]:
    """The acknowledgements that hold for the open incidents, by fingerprint."""
    return {fp: ack for fp, ack in acks.items() if fp in firing and holds(ack, state=firing[fp], now=now)}

