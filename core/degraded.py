"""The canary's own findings ("canary degraded"): one shape, whatever they are about."""

from __future__ import annotations

from core.model import CANARY_MONITOR, Finding, Severity


def degraded(key: dict[str, str], summary: str, details: dict[str, object], fix: str) -> Finding:
    """A "canary degraded" warning: `key["monitor"]` names what it is about (a monitor or a pseudo-monitor)."""
    return Finding(monitor=CANARY_MONITOR, severity=Severity.WARNING, key=key, summary=summary, details=details, fix=fix)
