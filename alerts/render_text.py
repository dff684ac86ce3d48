"""Plain-text rendering of an AlertMessage: the console view and Slack's `text` fallback."""

from __future__ import annotations

from alerts.message import AlertMessage
from core.model import Reason

SEVERITY_MARK = {"critical": "[CRITICAL]", "warning": "[WARNING]", "info": "[INFO]"}
REASON_MARK = {Reason.FIRST: "FIRING", Reason.REPEAT: "STILL FIRING", Reason.RESOLVED: "RESOLVED"}


def headline(message: AlertMessage) -> str:
    test = "[TEST] " if message.synthetic else ""
    return f"{test}{REASON_MARK[message.reason]} {SEVERITY_MARK[message.severity.value]} {message.monitor}: {message.title}"


def render_text(message: AlertMessage) -> str:
    lines = [headline(message)]
    lines.append("  where: " + ", ".join(f"{name}={value}" for name, value in message.where))
    if message.since:
        lines.append(f"  since: {message.since:%Y-%m-%d %H:%M} UTC")
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
    lines.append(f"  why now: {message.why_now}")
    lines.append(f"  fingerprint: {message.fingerprint}")
    return "\n".join(lines)
