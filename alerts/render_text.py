"""Plain-text rendering of an AlertMessage: the console view and Slack's `text` fallback."""

from __future__ import annotations

from alerts.message import AlertMessage, when
from core.model import Reason

SEVERITY_MARK = {"critical": "[CRITICAL]", "warning": "[WARNING]", "info": "[INFO]"}
REASON_MARK = {Reason.FIRST: "FIRING", Reason.REPEAT: "STILL FIRING", Reason.RESOLVED: "RESOLVED"}
UNVERIFIED_MARK = "NO LONGER CHECKED"
"""An incident closed without being seen healthy: never shown as resolved."""


def reason_mark(message: AlertMessage) -> str:
    return UNVERIFIED_MARK if message.unverified else REASON_MARK[message.reason]


def headline(message: AlertMessage) -> str:
    test = "[TEST] " if message.synthetic else ""
    return f"{test}{reason_mark(message)} {SEVERITY_MARK[message.severity.value]} {message.monitor}: {message.title}"


def render_text(message: AlertMessage) -> str:
    lines = [headline(message)]
    lines.append("  where: " + ", ".join(f"{name}={value}" for name, value in message.where))
    if message.since:
        lines.append(f"  since: {when(message.since, message.zone)}")
    if message.evidence:
        lines.append(f"  evidence: {message.evidence}")
    for name, value in message.facts:
        lines.append(f"  {name}: {value}")
    if message.fix:
        lines.append(f"  fix: {message.fix}")
    if message.cause:
        lines.append(f"  caused by: {message.cause}")
    if message.affects:
        lines.append("  also affected:")
        lines += [f"    - {line}" for line in message.affects]
    if message.check:
        lines.append(f"  check: {message.check}")
    for label, url in message.links:
        lines.append(f"  {label}: {url}")
    lines.append(f"  why now: {message.why_now}")
    lines.append(f"  fingerprint: {message.fingerprint}")
    return "\n".join(lines)
