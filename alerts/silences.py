"""Silences: mute matching first/repeat notices until an expiry (resolved notices still go).

The Silence record is in core.model; creating one from an operator's words and matching it are here."""

from __future__ import annotations

import difflib
import uuid
from datetime import datetime
from typing import Mapping, Sequence

from core.config import ConfigError, parse_duration
from core.model import AlertState, Finding, Severity, Silence

MAX_SILENCE_DAYS = 30


class SilenceError(ConfigError):
    """A silence that cannot be created as asked."""


def parse_matchers(
    pairs: list[str], *, labels_by_monitor: Mapping[str, frozenset[str]] | None = None,
    known_values: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, str]:
    """`--match LABEL=VALUE` (repeatable; all must match). With `labels_by_monitor` (every monitor's key
    labels), a label no finding can carry, an unknown monitor or severity, or a combination no monitor's
    findings can have is refused, so a silence never silently matches nothing. With `known_values` (the
    services and transitions [pipeline] names), a value not among them is refused with the closest names."""
    matchers: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name or not value:
            raise SilenceError(f"--match: expected LABEL=VALUE, got {pair!r}")
        if name in matchers and matchers[name] != value:
            raise SilenceError(f"--match: {name} given twice ({matchers[name]!r} and {value!r}); all must match")
        matchers[name] = value
    if labels_by_monitor is not None:
        check_matchers(matchers, labels_by_monitor)
    if known_values is not None:
        check_values(matchers, known_values)
    return matchers


def check_values(matchers: Mapping[str, str], known_values: Mapping[str, Sequence[str]]) -> None:
    """A value of a label whose values [pipeline] states must be one of them (a typo matches nothing)."""
    for name, value in matchers.items():
        known = known_values.get(name)
        if known is None or value in known:
            continue
        close = difflib.get_close_matches(value, known, n=1, cutoff=0.6)  # the closest; all are listed after it
        hint = f"; did you mean {' or '.join(close)}?" if close else ""
        raise SilenceError(
            f"--match {name}={value}: not a {name} of [pipeline]{hint} (known: {', '.join(known) or 'none'})"
        )


def check_matchers(matchers: dict[str, str], labels_by_monitor: Mapping[str, frozenset[str]]) -> None:
    known = sorted({"monitor", "severity"}.union(*labels_by_monitor.values()))
    for name, value in matchers.items():
        if name not in known:
            hint = " (give one label per --match; repeat --match for more)" if "," in value or "," in name else ""
            raise SilenceError(f"--match {name}={value}: unknown label {name!r} (known: {', '.join(known)}){hint}")
        if "," in value and "=" in value:
            raise SilenceError(f"--match {name}={value}: one label per --match; repeat --match for more")
    monitor = matchers.get("monitor")
    if monitor is not None and monitor not in labels_by_monitor:
        raise SilenceError(f"--match monitor={monitor}: unknown monitor (known: {', '.join(labels_by_monitor)})")
    severity = matchers.get("severity")
    if severity is not None and severity not in {s.value for s in Severity}:
        severities = ", ".join(s.value for s in Severity)
        raise SilenceError(f"--match severity={severity}: unknown severity (known: {severities})")
    wanted = set(matchers) - {"monitor", "severity"}
    if monitor is not None and not wanted <= labels_by_monitor[monitor]:
        missing = ", ".join(sorted(wanted - labels_by_monitor[monitor]))
        carried = ", ".join(sorted(labels_by_monitor[monitor]))
        raise SilenceError(f"--match: {monitor} findings carry no {missing} (their labels: {carried})")
    if not any(wanted <= labels for labels in labels_by_monitor.values()):
        labels = ", ".join(sorted(wanted))
        raise SilenceError(f"--match: no monitor's findings carry all of {labels}: it would match nothing")


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
    return next(
        (s for s in silences
         if s.matches(monitor=finding.monitor, key=finding.key, severity=finding.severity, now=now)),
        None,
    )


def open_incidents_matched(silence: Silence, firing: Sequence[AlertState], *, now: datetime) -> list[AlertState]:
    """The open incidents this silence mutes right now (their next repeat is not sent)."""
    return [s for s in firing if silence.matches(monitor=s.monitor, key=s.key, severity=s.severity, now=now)]


def effects_muted(matched: Sequence[AlertState], firing: Sequence[AlertState]) -> list[AlertState]:
    """The open incidents living in the threads of `matched` (their effects, at any depth): a silenced cause
    mutes their repeats too (alerts/causes.py)."""
    causes = {s.fingerprint for s in matched}
    found: list[AlertState] = []
    grew = True
    while grew:
        grew = False
        for state in firing:
            if state.caused_by in causes and state.fingerprint not in causes:
                causes.add(state.fingerprint)
                found.append(state)
                grew = True
    return found
